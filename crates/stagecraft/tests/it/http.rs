//! A real HTTP/1.1 server on 127.0.0.1 for download tests: serves files
//! from memory, counts requests, injects faults, limits the rate of each
//! connection, and answers proxy-style requests (absolute URLs) too.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status instead.
    Status(u16),
    /// Send the headers and half the body, then close the connection.
    DropMidBody,
    /// Send the headers and half the body, then hang (until the test ends).
    StallMidBody,
    /// Send the body a byte every 100 ms: never idle, never done.
    Trickle,
}

#[derive(Default)]
struct State {
    files: HashMap<String, Vec<u8>>,
    faults: HashMap<String, VecDeque<Fault>>,
    hits: HashMap<String, usize>,
    /// Requests made through the proxy: `CONNECT host:port` tunnels and
    /// `GET http://host/path`.
    proxied: Vec<String>,
    /// Bytes per second per connection; 0 is unlimited.
    rate: u64,
    /// The bodies of POST requests, by path.
    posts: Vec<(String, String)>,
}

#[derive(Clone)]
pub struct Server {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

impl Server {
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                thread::spawn(move || {
                    let _ = serve(stream, &state);
                });
            }
        });
        Server { port, state }
    }

    /// `http://127.0.0.1:PORT`
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn put(&self, path: &str, body: impl Into<Vec<u8>>) {
        self.state
            .lock()
            .unwrap()
            .files
            .insert(path.to_owned(), body.into());
    }

    /// The next requests of `path` fail like this, in order.
    pub fn fault(&self, path: &str, fault: Fault) {
        self.state
            .lock()
            .unwrap()
            .faults
            .entry(path.to_owned())
            .or_default()
            .push_back(fault);
    }

    pub fn limit_rate(&self, bytes_per_second: u64) {
        self.state.lock().unwrap().rate = bytes_per_second;
    }

    pub fn hits(&self, path: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .hits
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    pub fn total_hits(&self) -> usize {
        self.state.lock().unwrap().hits.values().sum()
    }

    pub fn posts(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().posts.clone()
    }

    pub fn proxied(&self) -> Vec<String> {
        self.state.lock().unwrap().proxied.clone()
    }
}

fn serve(mut stream: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let (mut request_line, mut length) = read_head(&mut reader)?;
    if let Some(rest) = request_line.strip_prefix("CONNECT ") {
        // A proxy tunnel: this server plays the destination too.
        let authority = rest.split_whitespace().next().unwrap_or("").to_owned();
        state.lock().unwrap().proxied.push(authority);
        stream.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
        (request_line, length) = read_head(&mut reader)?;
    }
    if request_line.starts_with("POST ") {
        let mut body = vec![0u8; length];
        std::io::Read::read_exact(&mut reader, &mut body)?;
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("/")
            .to_owned();
        state
            .lock()
            .unwrap()
            .posts
            .push((path, String::from_utf8_lossy(&body).into_owned()));
    }
    let target = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    let path = match target.strip_prefix("http://") {
        Some(rest) => {
            state.lock().unwrap().proxied.push(target.clone());
            format!("/{}", rest.split_once('/').map_or("", |(_, p)| p))
        }
        None => target,
    };
    let (body, fault, rate) = {
        let mut s = state.lock().unwrap();
        *s.hits.entry(path.clone()).or_default() += 1;
        let fault = s.faults.get_mut(&path).and_then(VecDeque::pop_front);
        (s.files.get(&path).cloned(), fault, s.rate)
    };
    let Some(body) = body else {
        return respond(&mut stream, 404, b"not found");
    };
    match fault {
        Some(Fault::Status(code)) => respond(&mut stream, code, b"injected failure"),
        Some(Fault::Trickle) => {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            for byte in &body {
                stream.write_all(std::slice::from_ref(byte))?;
                stream.flush()?;
                thread::sleep(Duration::from_millis(100));
            }
            Ok(())
        }
        Some(fault @ (Fault::DropMidBody | Fault::StallMidBody)) => {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            stream.write_all(&body[..body.len() / 2])?;
            stream.flush()?;
            if fault == Fault::StallMidBody {
                thread::sleep(Duration::from_secs(600));
            }
            stream.shutdown(Shutdown::Both)
        }
        None => {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            send_limited(&mut stream, &body, rate)?;
            stream.flush()
        }
    }
}

/// The request line and the Content-Length; other headers are dropped.
fn read_head(reader: &mut BufReader<TcpStream>) -> std::io::Result<(String, usize)> {
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut length = 0;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" || header == "\n" {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    Ok((request_line, length))
}

fn respond(stream: &mut TcpStream, code: u16, body: &[u8]) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {code} Status\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    stream.flush()
}

/// Writes at most `rate` bytes per second, as real download hosts do.
fn send_limited(stream: &mut TcpStream, body: &[u8], rate: u64) -> std::io::Result<()> {
    if rate == 0 {
        return stream.write_all(body);
    }
    let start = Instant::now();
    let chunk = (rate / 50).max(1) as usize;
    let mut sent = 0usize;
    for piece in body.chunks(chunk) {
        stream.write_all(piece)?;
        sent += piece.len();
        let due = Duration::from_secs_f64(sent as f64 / rate as f64);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            thread::sleep(wait);
        }
    }
    Ok(())
}
