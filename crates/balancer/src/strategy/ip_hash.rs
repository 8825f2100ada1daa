//! IP hash on weighted rendezvous hashing (highest random weight): every backend scores the
//! client's full address (IPv4 or IPv6, not nginx's /24), the highest score wins. Removing one
//! of N backends moves exactly the clients that were on it (about 1/N) and no others; a down
//! backend's clients go to their second choice and come back when it returns. Weights scale
//! each backend's share (`-weight / ln(u)`, the standard weighted form).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use super::{healthy, PickContext, Strategy};
use crate::Backend;

/// Consistent hashing of the client's address.
#[derive(Debug, Default)]
pub struct IpHash;

impl Strategy for IpHash {
    fn name(&self) -> &'static str {
        "ip-hash"
    }

    fn pick(&self, backends: &[Arc<Backend>], ctx: &PickContext) -> Option<usize> {
        let client = ctx.client.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let key = match client {
            IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            IpAddr::V6(v6) => v6.octets(),
        };
        healthy(backends)
            .map(|i| (i, score(&key, &backends[i])))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i)
    }
}

fn score(client: &[u8; 16], backend: &Backend) -> f64 {
    let h = hash(client, backend.addr.as_bytes());
    // A uniform number in (0, 1] from the hash's top 53 bits.
    let u = ((h >> 11) + 1) as f64 / (1u64 << 53) as f64;
    -f64::from(backend.weight()) / u.ln()
}

/// FNV-1a over both inputs, then splitmix64's finalizer for avalanche. Written here because
/// the standard library's hasher is not guaranteed stable across releases, and a client must
/// keep its backend across an upgrade of the balancer.
pub(crate) fn hash(a: &[u8], b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in a.iter().chain([0xffu8].iter()).chain(b) {
        h ^= u64::from(*byte);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testing::backends;

    fn client(i: u32) -> PickContext {
        let ip = if i.is_multiple_of(2) {
            IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i))
        } else {
            IpAddr::V6(std::net::Ipv6Addr::new(
                0x2001,
                0xdb8,
                0,
                0,
                0,
                0,
                (i >> 16) as u16,
                i as u16,
            ))
        };
        PickContext { client: Some(ip) }
    }

    #[test]
    fn one_client_always_reaches_one_backend() {
        let b = backends(&[1, 1, 1, 1, 1]);
        for i in 0..100 {
            let first = IpHash.pick(&b, &client(i));
            for _ in 0..10 {
                assert_eq!(IpHash.pick(&b, &client(i)), first);
            }
        }
    }

    #[test]
    fn removing_one_of_five_moves_only_its_own_clients() {
        let five = backends(&[1, 1, 1, 1, 1]);
        let four: Vec<_> = five.iter().take(4).cloned().collect();
        let mut moved = 0;
        let mut share = [0usize; 5];
        for i in 0..10_000 {
            let before = IpHash.pick(&five, &client(i)).unwrap();
            let after = IpHash.pick(&four, &client(i)).unwrap();
            share[before] += 1;
            if before != after {
                moved += 1;
                assert_eq!(before, 4, "only the removed backend's clients move");
            }
        }
        assert!(moved <= 2_500, "{moved} of 10,000 remapped");
        for s in share {
            assert!((1_700..=2_300).contains(&s), "uneven spread: {share:?}");
        }
    }

    #[test]
    fn a_down_backend_sends_its_clients_elsewhere_and_gets_them_back() {
        let b = backends(&[1, 1, 1]);
        let on_zero: Vec<u32> = (0..300)
            .filter(|&i| IpHash.pick(&b, &client(i)) == Some(0))
            .collect();
        b[0].set_healthy(false);
        assert!(on_zero
            .iter()
            .all(|&i| IpHash.pick(&b, &client(i)) != Some(0)));
        b[0].set_healthy(true);
        assert!(on_zero
            .iter()
            .all(|&i| IpHash.pick(&b, &client(i)) == Some(0)));
    }

    #[test]
    fn weights_scale_the_share() {
        let b = backends(&[1, 3]);
        let heavy = (0..10_000)
            .filter(|&i| IpHash.pick(&b, &client(i)) == Some(1))
            .count();
        assert!((7_000..=8_000).contains(&heavy), "{heavy}");
    }
}
