//! Request statistics per hour, which every server adds to and the daily report reads:
//! counts by route, method and status (`request_counts`), and response times by route as a
//! histogram (`request_latency`, in the buckets of [`latency_bucket`]).
//!
//! Servers add what they counted since their last flush with upserts that add to what is
//! there, so any number of servers can share the tables without coordinating.

use crate::error::{from_sqlx, StoreError};
use crate::model::count_u64;
use crate::{Store, Timestamp};

/// Rows per statement: well under both backends' limit on bound parameters.
const ROWS_PER_INSERT: usize = 200;

/// The histogram bucket of a response time in microseconds: exact below 16 µs, then eight
/// buckets per power of two (each at most 12.5% wide), up to hours.
pub fn latency_bucket(micros: u64) -> u32 {
    if micros < 16 {
        return micros as u32;
    }
    let exponent = 63 - micros.leading_zeros(); // >= 4
    let sub = (micros >> (exponent - 3)) & 7;
    16 + (exponent - 4) * 8 + sub as u32
}

/// The response times bucket `bucket` holds: `[low, high)` microseconds.
pub fn bucket_range(bucket: u32) -> (u64, u64) {
    if bucket < 16 {
        return (u64::from(bucket), u64::from(bucket) + 1);
    }
    let exponent = (bucket - 16) / 8 + 4;
    let sub = u64::from((bucket - 16) % 8);
    let step = 1u64 << (exponent - 3);
    ((8 + sub) * step, (9 + sub) * step)
}

/// Requests counted in one hour, for one route, method and status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestCount {
    /// The start of the hour.
    pub hour: Timestamp,
    /// The route, as the application's metrics label it.
    pub route: String,
    /// The method.
    pub method: String,
    /// The response's status.
    pub status: u16,
    /// How many.
    pub count: u64,
}

/// Requests whose response time fell in one histogram bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyCount {
    /// The route.
    pub route: String,
    /// The bucket, as [`latency_bucket`] gives it.
    pub bucket: u32,
    /// How many.
    pub count: u64,
}

/// `($1, $2, ...), (...)` for `rows` rows of `columns` placeholders.
fn values(rows: usize, columns: usize) -> String {
    let mut out = String::new();
    for row in 0..rows {
        out.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..columns {
            if column > 0 {
                out.push_str(", ");
            }
            out.push_str(&format!("${}", row * columns + column + 1));
        }
        out.push(')');
    }
    out
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Store {
    /// Adds `counts` and `latency` to the hour starting at `hour`.
    pub async fn add_request_stats(
        &self,
        hour: Timestamp,
        counts: &[(&str, &str, u16, u64)],
        latency: &[(&str, u32, u64)],
    ) -> Result<(), StoreError> {
        for chunk in counts.chunks(ROWS_PER_INSERT) {
            let sql = format!(
                "INSERT INTO request_counts (hour, route, method, status, count) VALUES {} \
                 ON CONFLICT (hour, route, method, status) \
                 DO UPDATE SET count = request_counts.count + excluded.count",
                values(chunk.len(), 5)
            );
            on_engine!(self, |pool| {
                let mut query = sqlx::query(&sql);
                for &(route, method, status, n) in chunk {
                    query = query
                        .bind(hour.as_millis())
                        .bind(route)
                        .bind(method)
                        .bind(i32::from(status))
                        .bind(signed(n));
                }
                query.execute(pool).await.map(|_| ())
            })
            .map_err(from_sqlx)?;
        }
        for chunk in latency.chunks(ROWS_PER_INSERT) {
            let sql = format!(
                "INSERT INTO request_latency (hour, route, bucket, count) VALUES {} \
                 ON CONFLICT (hour, route, bucket) \
                 DO UPDATE SET count = request_latency.count + excluded.count",
                values(chunk.len(), 4)
            );
            on_engine!(self, |pool| {
                let mut query = sqlx::query(&sql);
                for &(route, bucket, n) in chunk {
                    query = query
                        .bind(hour.as_millis())
                        .bind(route)
                        .bind(i32::try_from(bucket).unwrap_or(i32::MAX))
                        .bind(signed(n));
                }
                query.execute(pool).await.map(|_| ())
            })
            .map_err(from_sqlx)?;
        }
        Ok(())
    }

    /// The counts of every hour starting in `[from, to)`, by hour, route, method and status.
    pub async fn request_counts(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<RequestCount>, StoreError> {
        const SQL: &str = "SELECT hour, route, method, status, count FROM request_counts \
                           WHERE hour >= $1 AND hour < $2 ORDER BY hour, route, method, status";
        let rows: Vec<(i64, String, String, i32, i64)> =
            on_engine!(self, |pool| sqlx::query_as(SQL)
                .bind(from.as_millis())
                .bind(to.as_millis())
                .fetch_all(pool)
                .await)
            .map_err(from_sqlx)?;
        Ok(rows
            .into_iter()
            .map(|(hour, route, method, status, count)| RequestCount {
                hour: Timestamp::from_millis(hour),
                route,
                method,
                status: u16::try_from(status).unwrap_or(0),
                count: count_u64(count),
            })
            .collect())
    }

    /// The response-time histogram of every route over the hours starting in `[from, to)`.
    pub async fn request_latency(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<LatencyCount>, StoreError> {
        const SQL: &str = "SELECT route, bucket, CAST(sum(count) AS BIGINT) FROM request_latency \
                           WHERE hour >= $1 AND hour < $2 GROUP BY route, bucket \
                           ORDER BY route, bucket";
        let rows: Vec<(String, i32, i64)> = on_engine!(self, |pool| sqlx::query_as(SQL)
            .bind(from.as_millis())
            .bind(to.as_millis())
            .fetch_all(pool)
            .await)
        .map_err(from_sqlx)?;
        Ok(rows
            .into_iter()
            .map(|(route, bucket, count)| LatencyCount {
                route,
                bucket: u32::try_from(bucket).unwrap_or(0),
                count: count_u64(count),
            })
            .collect())
    }

    /// How many users were created in `[from, to)`.
    pub async fn count_users_created(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<u64, StoreError> {
        const SQL: &str = "SELECT count(*) FROM users WHERE created_at >= $1 AND created_at < $2";
        let n: i64 = on_engine!(self, |pool| sqlx::query_scalar(SQL)
            .bind(from.as_millis())
            .bind(to.as_millis())
            .fetch_one(pool)
            .await)
        .map_err(from_sqlx)?;
        Ok(count_u64(n))
    }

    /// Deletes the statistics of hours before `before`; returns how many rows.
    pub async fn prune_request_stats(&self, before: Timestamp) -> Result<u64, StoreError> {
        let mut deleted = 0;
        for sql in [
            "DELETE FROM request_counts WHERE hour < $1",
            "DELETE FROM request_latency WHERE hour < $1",
        ] {
            deleted += on_engine!(self, |pool| sqlx::query(sql)
                .bind(before.as_millis())
                .execute(pool)
                .await
                .map(|r| r.rows_affected()))
            .map_err(from_sqlx)?;
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_time_in_order() {
        let mut last = 0;
        for micros in [
            0,
            1,
            15,
            16,
            17,
            31,
            32,
            100,
            1000,
            12_345,
            1_000_000,
            3_600_000_000,
        ] {
            let b = latency_bucket(micros);
            let (low, high) = bucket_range(b);
            assert!(
                low <= micros && micros < high,
                "{micros} in {b}: [{low}, {high})"
            );
            assert!(b >= last);
            last = b;
            if micros >= 16 {
                assert!((high - low) * 8 <= low, "at most 12.5% wide");
            }
        }
        assert_eq!(latency_bucket(16), 16);
        assert_eq!(latency_bucket(18), 17);
    }

    #[test]
    fn placeholders_number_on() {
        assert_eq!(values(2, 2), "($1, $2), ($3, $4)");
    }
}
