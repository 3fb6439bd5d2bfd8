//! A tiny HTTP/1.1 server on 127.0.0.1 whose answers are scripted per request target, including the
//! faults real networks and servers produce: slow answers, connections reset or closed mid-body,
//! bodies without a length, chunked bodies, trickles, redirects, huge error answers. One thread per
//! connection, one request per connection (`Connection: close`). It records each request's head and
//! how many body bytes each answer got out before the client hung up.

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::BenchError;

/// A response body shared between answers without copying it.
pub type Body = Arc<Vec<u8>>;

/// How to answer one request.
#[derive(Debug, Clone)]
pub enum Answer {
    /// 200 with `Content-Length`.
    Full(Body),
    /// Waits, then answers like [`Answer::Full`].
    Delayed(Duration, Body),
    /// Announces the whole length, sends half the body, then resets the connection (RST).
    ResetMidBody(Body),
    /// Announces the whole length, sends half the body, then closes cleanly (FIN): a truncated body.
    CutShort(Body),
    /// No length: sends the body as given and closes; the client cannot tell if it was cut.
    CloseDelimited(Body),
    /// `Transfer-Encoding: chunked` in 64 KiB chunks, so the client learns the size only by reading.
    Chunked(Body),
    /// Any status with a short text body.
    Status(u16, String),
    /// 200 with `Content-Length`, one byte every `every`.
    Trickle(Duration, Body),
    /// A redirect (301, 302, 307, 308) to `location`.
    Redirect(u16, String),
    /// `status` with a body of `bytes` bytes (`Content-Length` announced), generated as it is sent.
    Huge(u16, u64),
}

#[derive(Default)]
struct Script {
    /// Answers used once each, in order, before `then`.
    first: VecDeque<Answer>,
    then: Option<Answer>,
    hits: usize,
    /// The head (request line and headers) of every request received.
    heads: Vec<String>,
    /// Body bytes written, over all answers, before the client went away.
    sent: u64,
}

type Scripts = Arc<Mutex<HashMap<String, Script>>>;

/// A scripted loopback server; it lives as long as the process (its thread blocks in `accept`).
#[derive(Clone)]
pub struct LoopbackServer {
    port: u16,
    scripts: Scripts,
}

impl LoopbackServer {
    /// Starts listening on a free port of 127.0.0.1.
    pub fn start() -> Result<LoopbackServer, BenchError> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let scripts: Scripts = Arc::default();
        let shared = scripts.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let scripts = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &scripts);
                });
            }
        });
        Ok(LoopbackServer { port, scripts })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn uri(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// From now on, `target` (path and query, e.g. `/v3/displacement/admin2?Admin0Pcode=HTI`) gets each of
    /// `first` once, then `then` forever. Resets its hit count.
    pub fn script(&self, target: &str, first: Vec<Answer>, then: Answer) {
        let mut scripts = self.scripts.lock().unwrap_or_else(PoisonError::into_inner);
        scripts.insert(target.to_string(), Script { first: first.into(), then: Some(then), ..Script::default() });
    }

    /// How many requests `target` received since it was last scripted.
    pub fn hits(&self, target: &str) -> usize {
        self.scripts.lock().unwrap_or_else(PoisonError::into_inner).get(target).map_or(0, |s| s.hits)
    }

    /// The heads (request line and headers, as sent) of the requests `target` received.
    pub fn heads(&self, target: &str) -> Vec<String> {
        self.scripts.lock().unwrap_or_else(PoisonError::into_inner).get(target).map_or(Vec::new(), |s| s.heads.clone())
    }

    /// Body bytes of [`Answer::Huge`] answers to `target` that got out before the client hung up.
    pub fn sent(&self, target: &str) -> u64 {
        self.scripts.lock().unwrap_or_else(PoisonError::into_inner).get(target).map_or(0, |s| s.sent)
    }
}

fn serve(mut stream: TcpStream, scripts: &Scripts) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut request = Vec::new();
    let mut buffer = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buffer)?;
        if n == 0 || request.len() > 64 * 1024 {
            return Ok(());
        }
        request.extend_from_slice(&buffer[..n]);
    }
    let head = String::from_utf8_lossy(&request);
    let target = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let answer = {
        let mut scripts = scripts.lock().unwrap_or_else(PoisonError::into_inner);
        match scripts.get_mut(&target) {
            Some(script) => {
                script.hits += 1;
                script.heads.push(head.to_string());
                script.first.pop_front().or_else(|| script.then.clone())
            }
            None => None,
        }
    };
    let answer = answer.unwrap_or_else(|| Answer::Status(404, format!("nothing scripted for {target}")));
    if let Answer::Huge(status, bytes) = answer {
        let sent = send_huge(&mut stream, status, bytes);
        if let Some(script) = scripts.lock().unwrap_or_else(PoisonError::into_inner).get_mut(&target) {
            script.sent += sent;
        }
        return Ok(());
    }
    answer_with(&mut stream, answer)
}

/// Sends `bytes` bytes of body in 64 KiB pieces until done or the client goes away; returns how many got out.
fn send_huge(stream: &mut TcpStream, status: u16, bytes: u64) -> u64 {
    if stream.write_all(&head(status, &format!("Content-Length: {bytes}\r\n"))).is_err() {
        return 0;
    }
    let piece = vec![b'x'; 64 * 1024];
    let mut sent = 0u64;
    while sent < bytes {
        let n = piece.len().min(usize::try_from(bytes - sent).unwrap_or(piece.len()));
        if stream.write_all(&piece[..n]).is_err() {
            break;
        }
        sent += n as u64;
    }
    sent
}

fn head(status: u16, extra: &str) -> Vec<u8> {
    format!("HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nConnection: close\r\n{extra}\r\n").into_bytes()
}

fn answer_with(stream: &mut TcpStream, answer: Answer) -> std::io::Result<()> {
    match answer {
        Answer::Full(body) => {
            stream.write_all(&head(200, &format!("Content-Length: {}\r\n", body.len())))?;
            stream.write_all(&body)?;
        }
        Answer::Delayed(wait, body) => {
            std::thread::sleep(wait);
            return answer_with(stream, Answer::Full(body));
        }
        Answer::ResetMidBody(body) => {
            stream.write_all(&head(200, &format!("Content-Length: {}\r\n", body.len())))?;
            stream.write_all(&body[..body.len() / 2])?;
            stream.flush()?;
            std::thread::sleep(Duration::from_millis(50));
            // Linger 0: closing sends RST instead of FIN.
            socket2::SockRef::from(&*stream).set_linger(Some(Duration::ZERO))?;
            return Ok(());
        }
        Answer::CutShort(body) => {
            stream.write_all(&head(200, &format!("Content-Length: {}\r\n", body.len())))?;
            stream.write_all(&body[..body.len() / 2])?;
        }
        Answer::CloseDelimited(body) => {
            stream.write_all(&head(200, ""))?;
            stream.write_all(&body)?;
        }
        Answer::Chunked(body) => {
            stream.write_all(&head(200, "Transfer-Encoding: chunked\r\n"))?;
            for chunk in body.chunks(64 * 1024) {
                stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())?;
                stream.write_all(chunk)?;
                stream.write_all(b"\r\n")?;
            }
            stream.write_all(b"0\r\n\r\n")?;
        }
        Answer::Trickle(every, body) => {
            stream.write_all(&head(200, &format!("Content-Length: {}\r\n", body.len())))?;
            for byte in body.iter() {
                stream.write_all(std::slice::from_ref(byte))?;
                stream.flush()?;
                std::thread::sleep(every);
            }
        }
        Answer::Redirect(status, location) => {
            stream.write_all(&head(status, &format!("Location: {location}\r\nContent-Length: 0\r\n")))?;
        }
        Answer::Huge(status, bytes) => {
            send_huge(stream, status, bytes);
        }
        Answer::Status(status, text) => {
            stream.write_all(&head(status, &format!("Content-Length: {}\r\n", text.len())))?;
            stream.write_all(text.as_bytes())?;
        }
    }
    stream.flush()?;
    stream.shutdown(Shutdown::Write)?;
    // Let the client read everything before the socket goes away.
    let mut sink = [0u8; 1024];
    while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
    Ok(())
}
