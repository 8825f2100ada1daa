//! The PROXY protocol (HAProxy's, versions 1 and 2): a proxy in front of us says who its
//! client is, in a header before the first byte of the client's own. Read only from peers
//! the operator trusts, so no one else can claim another address.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// Version 2's signature.
const V2_SIGNATURE: [u8; 12] = [
    0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
];

/// The longest version 1 header, `\r\n` included.
const V1_MAX: usize = 107;

fn malformed(why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("bad PROXY header: {why}"),
    )
}

/// Reads a PROXY header (version 1 or 2) off `stream` and returns the client address it
/// names; `None` for a header that names none (`UNKNOWN`, `LOCAL`). Only the header's bytes
/// are consumed. A stream that does not start with a header is an error: from a trusted
/// proxy configured to send one, that is a misconfiguration. Callers bound it with a timeout.
pub async fn read_proxy_header(stream: &mut TcpStream) -> io::Result<Option<SocketAddr>> {
    let mut peeked = [0u8; 232];
    let n = loop {
        let n = stream.peek(&mut peeked).await?;
        if n == 0 {
            return Err(malformed("the connection closed"));
        }
        if n >= 16 || peeked[..n].contains(&b'\n') {
            break n;
        }
        // Too little yet to tell. Peeking returns at once while anything is buffered, so wait
        // a moment rather than spin (proxies send the header in one write; this is rare).
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    };
    if n >= 16 && peeked[..12] == V2_SIGNATURE {
        let len = u16::from_be_bytes([peeked[14], peeked[15]]) as usize;
        let mut header = vec![0u8; 16 + len];
        stream.read_exact(&mut header).await?;
        return parse_v2(&header);
    }
    if !peeked[..n].starts_with(b"PROXY ") {
        return Err(malformed("none where one was expected"));
    }
    let Some(end) = peeked[..n.min(V1_MAX)]
        .windows(2)
        .position(|w| w == b"\r\n")
    else {
        return Err(malformed("version 1 line too long or unfinished"));
    };
    let mut line = vec![0u8; end + 2];
    stream.read_exact(&mut line).await?;
    parse_v1(&line[..end])
}

/// `PROXY TCP4 192.0.2.1 198.51.100.1 56324 443`, without its `\r\n`.
fn parse_v1(line: &[u8]) -> io::Result<Option<SocketAddr>> {
    let text = std::str::from_utf8(line).map_err(|_| malformed("not text"))?;
    let fields: Vec<&str> = text.split(' ').collect();
    match fields.as_slice() {
        ["PROXY", "UNKNOWN", ..] => Ok(None),
        ["PROXY", family @ ("TCP4" | "TCP6"), source, _destination, port, _dport] => {
            let ip: IpAddr = source
                .parse()
                .map_err(|_| malformed("bad source address"))?;
            if (*family == "TCP4") != ip.is_ipv4() {
                return Err(malformed("address and family differ"));
            }
            let port: u16 = port.parse().map_err(|_| malformed("bad source port"))?;
            Ok(Some(SocketAddr::new(ip, port)))
        }
        _ => Err(malformed("unrecognised version 1 line")),
    }
}

/// Version 2: signature, version and command, family, length, addresses.
fn parse_v2(header: &[u8]) -> io::Result<Option<SocketAddr>> {
    let version = header[12] >> 4;
    let command = header[12] & 0x0f;
    if version != 2 {
        return Err(malformed("unknown version"));
    }
    if command == 0 {
        // LOCAL: the proxy's own connection (a health check); no client to name.
        return Ok(None);
    }
    let body = &header[16..];
    match header[13] >> 4 {
        1 if body.len() >= 12 => {
            let ip = Ipv4Addr::new(body[0], body[1], body[2], body[3]);
            let port = u16::from_be_bytes([body[8], body[9]]);
            Ok(Some(SocketAddr::new(IpAddr::V4(ip), port)))
        }
        2 if body.len() >= 36 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&body[..16]);
            let port = u16::from_be_bytes([body[32], body[33]]);
            Ok(Some(SocketAddr::new(
                IpAddr::V6(Ipv6Addr::from(octets)),
                port,
            )))
        }
        0 => Ok(None),
        _ => Err(malformed("unsupported address family or short addresses")),
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    async fn through(bytes: &[u8]) -> (io::Result<Option<SocketAddr>>, Vec<u8>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        client.write_all(bytes).await.unwrap();
        client.shutdown().await.unwrap();
        let result = read_proxy_header(&mut server).await;
        let mut rest = Vec::new();
        let _ = server.read_to_end(&mut rest).await;
        (result, rest)
    }

    #[tokio::test]
    async fn version_1() {
        let (got, rest) =
            through(b"PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\nGET / HTTP/1.1\r\n").await;
        assert_eq!(got.unwrap(), Some("192.0.2.1:56324".parse().unwrap()));
        assert_eq!(rest, b"GET / HTTP/1.1\r\n", "only the header is consumed");
        let (got, _) = through(b"PROXY TCP6 2001:db8::1 2001:db8::2 4000 443\r\n").await;
        assert_eq!(got.unwrap(), Some("[2001:db8::1]:4000".parse().unwrap()));
        assert_eq!(through(b"PROXY UNKNOWN\r\n").await.0.unwrap(), None);
        assert!(through(b"PROXY TCP4 2001:db8::1 192.0.2.2 1 2\r\n")
            .await
            .0
            .is_err());
        assert!(through(b"GET / HTTP/1.1\r\n").await.0.is_err());
    }

    #[tokio::test]
    async fn version_2() {
        let mut header = V2_SIGNATURE.to_vec();
        header.extend_from_slice(&[
            0x21, 0x11, 0x00, 0x0c, 192, 0, 2, 1, 198, 51, 100, 1, 0xdc, 0x04, 0x01, 0xbb,
        ]);
        header.extend_from_slice(b"rest");
        let (got, rest) = through(&header).await;
        assert_eq!(got.unwrap(), Some("192.0.2.1:56324".parse().unwrap()));
        assert_eq!(rest, b"rest");
        let mut local = V2_SIGNATURE.to_vec();
        local.extend_from_slice(&[0x20, 0x00, 0x00, 0x00]);
        assert_eq!(through(&local).await.0.unwrap(), None);
    }
}
