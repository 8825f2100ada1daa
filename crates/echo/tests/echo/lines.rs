//! The lines framing: `--prefix`.

use switchboard_echo::Model;
use tokio::io::AsyncWriteExt;

use crate::{connect, read_exact, read_to_end, round_trip, start, with_prefix};

async fn answers_each_line(model: Model) {
    let server = start(with_prefix(model, "Server received: "));
    let mut stream = connect(server.addr).await;
    round_trip(
        &mut stream,
        b"one\ntwo\r\n",
        b"Server received: one\nServer received: two\r\n",
    )
    .await;
    server.stop().await.unwrap();
}

#[tokio::test]
async fn async_answers_each_line() {
    answers_each_line(Model::Async).await;
}

#[tokio::test]
async fn threaded_answers_each_line() {
    answers_each_line(Model::Threaded).await;
}

#[tokio::test]
async fn sequential_answers_each_line() {
    answers_each_line(Model::Sequential).await;
}

/// The classic one-shot client: connect, send with no newline, read once, close. It must be
/// answered without sending a newline or closing its side.
async fn answers_the_one_shot_client(model: Model) {
    let server = start(with_prefix(model, "Server received: "));
    let mut stream = connect(server.addr).await;
    stream.write_all(b"Hello, Server!").await.unwrap();
    let want = b"Server received: Hello, Server!";
    assert_eq!(read_exact(&mut stream, want.len()).await, want);
    drop(stream);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn async_answers_the_one_shot_client() {
    answers_the_one_shot_client(Model::Async).await;
}

#[tokio::test]
async fn threaded_answers_the_one_shot_client() {
    answers_the_one_shot_client(Model::Threaded).await;
}

#[tokio::test]
async fn sequential_answers_the_one_shot_client() {
    answers_the_one_shot_client(Model::Sequential).await;
}

#[tokio::test]
async fn a_message_ended_by_close_is_answered() {
    let server = start(with_prefix(Model::Async, "> "));
    let mut stream = connect(server.addr).await;
    stream.write_all(b"bye").await.unwrap();
    stream.shutdown().await.unwrap();
    assert_eq!(read_to_end(&mut stream).await, b"> bye");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn binary_and_invalid_utf8_pass_through_lines() {
    let server = start(with_prefix(Model::Async, "P:"));
    let mut stream = connect(server.addr).await;
    round_trip(&mut stream, b"\xff\x00\xc3(\n", b"P:\xff\x00\xc3(\n").await;
    server.stop().await.unwrap();
}
