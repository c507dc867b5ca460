"""Day types, holidays and restrictions of the synthetic city's calendar."""

from datetime import date

from jobs.simulate.timeline import Calendar


def test_day_types_follow_weekends_and_kazakh_holidays(city_cfg):
    cal = Calendar.from_config(city_cfg)
    assert cal.day_type(date(2020, 3, 4)) == "working_day"    # Wednesday
    assert cal.day_type(date(2020, 3, 7)) == "day_off"        # Saturday
    assert cal.day_type(date(2020, 3, 23)) == "day_off"       # Nauryz, a Monday


def test_restrictions_in_force(city_cfg):
    cal = Calendar.from_config(city_cfg)
    assert cal.active(date(2020, 3, 18)) is None
    assert cal.active(date(2020, 3, 19)).measure == "lockdown"
    assert cal.active(date(2020, 5, 11)).id == "R1"
    assert cal.stringency(date(2020, 5, 12)) == 0.0
    assert cal.active(date(2020, 7, 20)).measure == "second_quarantine"
