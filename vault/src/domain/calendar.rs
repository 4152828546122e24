//! Calendar arithmetic in UTC for legal deadlines and retention dates, without a date crate:
//! H. Hinnant's civil-date algorithms (public domain), proleptic Gregorian calendar.

const DAY: i64 = 86_400;

/// Days since 1970-01-01 of a civil date.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month, day) of a day number since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `YYYY-MM-DD` of a day number since 1970-01-01.
pub fn utc_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Day of the week of a Unix time, UTC: 0 is Monday. 1970-01-01 was a Thursday.
fn weekday(unix: i64) -> i64 {
    (unix.div_euclid(DAY) + 3).rem_euclid(7)
}

/// `start` moved forward by `n` working days (Monday to Friday, UTC), keeping the time of day:
/// a grant started on Friday at 08:00 is due on Wednesday at 08:00. Public holidays are not
/// modelled.
pub fn add_working_days(start: i64, n: u32) -> i64 {
    let mut t = start;
    let mut left = n;
    while left > 0 {
        t += DAY;
        if weekday(t) < 5 {
            left -= 1;
        }
    }
    t
}

/// The same day and time `years` later (29 February becomes 28 February).
pub fn add_years(unix: i64, years: i64) -> i64 {
    let (y, m, d) = civil_from_days(unix.div_euclid(DAY));
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let d = if m == 2 && d == 29 && !leap(y + years) {
        28
    } else {
        d
    };
    days_from_civil(y + years, m, d) * DAY + unix.rem_euclid(DAY)
}

/// 1 January, 00:00 UTC, `years` after the year of `unix`.
pub fn start_of_year_after(unix: i64, years: i64) -> i64 {
    let (y, _, _) = civil_from_days(unix.div_euclid(DAY));
    days_from_civil(y + years, 1, 1) * DAY
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_follow_the_calendar() {
        // 2026-11-27 10:00 UTC
        let t = days_from_civil(2026, 11, 27) * DAY + 10 * 3600;
        assert_eq!(utc_date(t.div_euclid(DAY)), "2026-11-27");
        assert_eq!(
            add_years(t, 25),
            days_from_civil(2051, 11, 27) * DAY + 10 * 3600
        );
        assert_eq!(start_of_year_after(t, 6), days_from_civil(2032, 1, 1) * DAY);
        let leap_day = days_from_civil(2028, 2, 29) * DAY;
        assert_eq!(add_years(leap_day, 25), days_from_civil(2053, 2, 28) * DAY);
        assert_eq!(add_years(leap_day, 4), leap_day + 1461 * DAY);
        for days in [-1000, 0, 10_957, 20_000, 60_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn working_days_skip_weekends() {
        let friday = days_from_civil(2026, 11, 27) * DAY + 8 * 3600;
        assert_eq!(add_working_days(friday, 3) - friday, 5 * DAY);
        assert_eq!(add_working_days(friday, 10) - friday, 14 * DAY);
        let monday = friday + 3 * DAY;
        assert_eq!(add_working_days(monday, 3) - monday, 3 * DAY);
        assert_eq!(add_working_days(friday + DAY, 3) - friday, 5 * DAY);
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(1_800_000_000 / DAY), "2027-01-15");
        assert_eq!(utc_date(11_016), "2000-02-29");
        assert_eq!(utc_date(-1), "1969-12-31");
    }
}
