//! The connection loop's own checks: what it holds while idle, how often it parses, and how
//! it writes when the socket takes little at a time (in-memory streams).

use super::*;
use http_body_util::Full;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

#[derive(Clone)]
struct Hello;

impl Service<Request<RequestBody>> for Hello {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<RequestBody>) -> Self::Future {
        std::future::ready(Ok(Response::new(Full::new(Bytes::from_static(b"hello")))))
    }
}

#[tokio::test]
async fn an_idle_connection_holds_no_buffers() {
    let (server, mut client) = tokio::io::duplex(64 * 1024);
    let closing = Closing::default();
    let settings = Settings {
        peer: "127.0.0.1:1".parse().unwrap(),
        scheme: Scheme::Http,
        activity: Activity::new(Instant::now()),
        max_head: 16 * 1024,
        drain_timeout: None,
        body_timeout: None,
        closing: &closing,
    };
    let mut conn = Conn::new(server, BytesMut::new(), Hello, settings);
    for _ in 0..2 {
        client
            .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
            .await
            .unwrap();
        let mut answer = vec![0u8; 4096];
        let mut got = 0;
        {
            let mut run = pin!(conn.run());
            while !answer[..got].ends_with(b"hello") {
                tokio::select! {
                    n = client.read(&mut answer[got..]) => got += n.unwrap(),
                    _ = &mut run => panic!("the connection ended"),
                }
            }
            // One more turn: the connection is back waiting for a request.
            tokio::select! {
                biased;
                _ = &mut run => panic!("the connection ended"),
                () = tokio::task::yield_now() => {}
            }
        }
        assert!(answer[..got].starts_with(b"HTTP/1.1 200 OK\r\n"));
        assert_eq!(conn.buffers(), (0, 0), "no buffer held while idle");
    }
}

fn settings(closing: &Closing) -> Settings<'_> {
    Settings {
        peer: "127.0.0.1:1".parse().unwrap(),
        scheme: Scheme::Http,
        activity: Activity::new(Instant::now()),
        max_head: 16 * 1024,
        drain_timeout: None,
        body_timeout: None,
        closing,
    }
}

/// A service from a closure.
struct FnService<F>(F);

impl<F, Fut, B> Service<Request<RequestBody>> for FnService<F>
where
    F: FnMut(Request<RequestBody>) -> Fut,
    Fut: Future<Output = Response<B>> + 'static,
{
    type Response = Response<B>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<B>, Infallible>>>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<RequestBody>) -> Self::Future {
        let fut = (self.0)(req);
        Box::pin(async move { Ok(fut.await) })
    }
}

/// Reads until EOF.
async fn read_all(mut client: tokio::io::DuplexStream) -> Vec<u8> {
    let mut got = Vec::new();
    client.read_to_end(&mut got).await.unwrap();
    got
}

#[tokio::test]
async fn a_head_sent_a_byte_at_a_time_is_parsed_once_per_line() {
    let (server, mut client) = tokio::io::duplex(64 * 1024);
    let closing = Closing::default();
    let mut conn = Conn::new(server, BytesMut::new(), Hello, settings(&closing));
    let filler: String = (0..60)
        .map(|i| format!("X-Filler-{i}: {}\r\n", "a".repeat(180)))
        .collect();
    let head = format!("GET / HTTP/1.1\r\nHost: x\r\n{filler}Connection: close\r\n\r\n");
    let lines = head.matches('\n').count();
    let before = head::PARSES.with(|n| n.get());
    let client = async move {
        for byte in head.as_bytes() {
            client.write_all(&[*byte]).await.unwrap();
            tokio::task::yield_now().await;
        }
        read_all(client).await
    };
    let (served, answer) = tokio::join!(conn.run(), client);
    assert!(served.is_ok());
    assert!(answer.starts_with(b"HTTP/1.1 200 OK\r\n"));
    let parses = head::PARSES.with(|n| n.get()) - before;
    assert!(parses <= lines + 1, "{parses} parses for {lines} lines");
}

#[tokio::test]
async fn a_partly_written_100_continue_is_finished_before_the_response() {
    /// Asks for the body once, then drops it, then answers.
    struct AskThenDrop {
        body: Option<RequestBody>,
        polls: u8,
    }
    impl Future for AskThenDrop {
        type Output = Response<Full<Bytes>>;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            self.polls += 1;
            match self.polls {
                1 => {
                    if let Some(body) = self.body.as_mut() {
                        let _ = Pin::new(body).poll_frame(cx);
                    }
                }
                2 => self.body = None,
                _ => return Poll::Ready(Response::new(Full::new(Bytes::from("nope")))),
            }
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
    // Room for 10 bytes: `100 Continue` goes out in pieces as the client reads.
    let (server, mut client) = tokio::io::duplex(10);
    let closing = Closing::default();
    let service = FnService(|req: Request<RequestBody>| AskThenDrop {
        body: Some(req.into_body()),
        polls: 0,
    });
    let mut conn = Conn::new(server, BytesMut::new(), service, settings(&closing));
    let client = async move {
        client
            .write_all(
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
            )
            .await
            .unwrap();
        read_all(client).await
    };
    let (_, answer) = tokio::join!(conn.run(), client);
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"),
        "{text:?}"
    );
    assert!(text.ends_with("nope"), "{text:?}");
}

#[tokio::test]
async fn a_waiting_response_body_flushes_what_was_written() {
    /// One frame, then pending for ever.
    struct OneThenWait(Option<Bytes>);
    impl Body for OneThenWait {
        type Data = Bytes;
        type Error = Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            match self.0.take() {
                Some(data) => Poll::Ready(Some(Ok(Frame::data(data)))),
                None => Poll::Pending,
            }
        }
    }
    // A stream that holds writes until flushed, as TLS may.
    let (server, mut client) = tokio::io::duplex(64 * 1024);
    let server = tokio::io::BufWriter::new(server);
    let closing = Closing::default();
    let service = FnService(|_| async {
        Response::new(OneThenWait(Some(Bytes::from_static(b"data: event\n\n"))))
    });
    let mut conn = Conn::new(server, BytesMut::new(), service, settings(&closing));
    client
        .write_all(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let run = conn.run();
    let mut run = pin!(run);
    while !got.ends_with(b"data: event\n\n\r\n") {
        let mut chunk = [0u8; 1024];
        tokio::select! {
            n = client.read(&mut chunk) => got.extend_from_slice(&chunk[..n.unwrap()]),
            _ = &mut run => panic!("the connection ended"),
            () = tokio::time::sleep(std::time::Duration::from_secs(2)) => {
                panic!("the event did not come: {:?}", String::from_utf8_lossy(&got))
            }
        }
    }
}

/// A service whose future is large (as an application's can be): the connection must hold it
/// only while its request runs.
#[derive(Clone)]
struct Large;

struct LargeFuture([u8; 16 * 1024]);

impl Future for LargeFuture {
    type Output = Result<Response<Full<Bytes>>, Infallible>;

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        let body = Bytes::copy_from_slice(&self.0[..1]);
        Poll::Ready(Ok(Response::new(Full::new(body))))
    }
}

impl Service<Request<RequestBody>> for Large {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = LargeFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<RequestBody>) -> Self::Future {
        LargeFuture([0; 16 * 1024])
    }
}

/// What an idle keep-alive connection costs is mostly its two futures: the task's (allocated
/// once per connection, with tokio's header) and the HTTP/1 loop's (boxed once). Neither may
/// grow with the service's future or the response being written: those are boxed per request.
#[tokio::test]
async fn a_connections_futures_are_small_whatever_the_service() {
    use crate::conn::{serve, Shared, TaskExecutor};
    use hyper::server::conn::http2;
    use switchboard_net::{ConnectionLimit, Shutdown, TaskTracker};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _clients = (
        tokio::net::TcpStream::connect(addr).await.unwrap(),
        tokio::net::TcpStream::connect(addr).await.unwrap(),
    );
    let (stream, _) = listener.accept().await.unwrap();
    let closing = Closing::default();
    let h1 = crate::h1::serve(stream, BytesMut::new(), Large, settings(&closing));
    let h1_size = std::mem::size_of_val(&h1);
    // Debug builds lay futures out more loosely than release ones: the bounds hold for both.
    assert!(
        h1_size <= 1024,
        "the HTTP/1 loop's future is {h1_size} bytes"
    );

    let (stream, peer) = listener.accept().await.unwrap();
    let executor = TaskExecutor {
        tracker: TaskTracker::new(),
        cut: Shutdown::new(),
    };
    let shared = Arc::new(Shared {
        limits: crate::Limits::default(),
        tls: None,
        http2: http2::Builder::new(executor),
        shutdown: Shutdown::new(),
        cut: Shutdown::new(),
        proxy_from: Vec::new(),
    });
    let limit = ConnectionLimit::new(1);
    let permit = limit.try_acquire().unwrap();
    let task = serve(stream, peer, shared, Large, permit);
    let task_size = std::mem::size_of_val(&task);
    assert!(
        task_size <= 1024,
        "the connection task's future is {task_size} bytes"
    );
}
