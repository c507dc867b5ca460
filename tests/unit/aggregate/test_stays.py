"""The stay rules (``jobs.aggregate.stays``) on single subscriber-days written out by hand."""

import numpy as np

from jobs.aggregate import stays


def day(areas: list[int], minutes: list[int]):
    g = np.zeros(len(areas), np.int64)
    return g, np.array(areas, np.int64), np.array(minutes, np.int64) * 60


def test_ping_pong_runs_need_a_partner_seen_the_same_day_and_respect_the_time_limit():
    g, a, t = day([0, 1, 0, 0, 1, 1, 0, 0, 2, 2, 0], [0, 10, 20, 30, 40, 50, 60, 200, 210, 220, 300])
    osc = stays.one_event_oscillations(g, a, t)
    assert osc.tolist() == [False, True] + [False] * 9
    pp = stays.ping_pong_runs(g, a, t, osc)
    assert np.flatnonzero(pp).tolist() == [4, 5]          # area 1 is 0's partner; area 2 is not
    assert not stays.ping_pong_runs(g, a, t, osc, max_minutes=20).any()   # 30 minutes away from 0
    assert stays.ping_pong_runs(g, a, t, osc, max_minutes=40).sum() == 2


def test_pass_by_needs_a_brief_run_on_the_way():
    x = np.array([0.0, 1.0, 2.0, 2.0, 3.0])
    y = np.array([0.0, 0.2, 0.0, 0.0, 0.0])
    g, a, t = day([0, 1, 2, 2, 3], [0, 5, 10, 40, 50])
    assert stays.pass_by_runs(g, a, t, x, y).tolist() == [False, True, False, False, False]  # 30 min at 2
    y_off = np.array([0.0, 2.0, 0.0, 0.0, 0.0])            # 2 km off the line: a detour of 3.5 km
    assert not stays.pass_by_runs(g, a, t, x, y_off).any()
    g2 = np.array([0, 0, 1, 1, 1])                          # first and last runs of a day are stays
    assert not stays.pass_by_runs(g2, a, t, x, y).any()
