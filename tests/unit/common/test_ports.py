import socket

from jobs.common.ports import free_ports, in_use


def test_free_ports_are_distinct_and_bindable():
    ports = free_ports(3)
    assert len(set(ports)) == 3
    for port in ports:
        assert not in_use(port)
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_a_listening_port_is_in_use():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert in_use(port)
    assert not in_use(port)
