//! `reportgate serve` as a child process. The child binds its own ports (`127.0.0.1:0`) and
//! says which in its log, so no test picks a free port, releases it and hands it on (another
//! test could take it in between). Also a port that refuses connections and stays held.
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

pub struct Served {
    pub child: Child,
    pub port: u16,
    pub admin_port: Option<u16>,
    log: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
    /// Closed ports the child's configuration points at, held while it runs.
    held: Vec<ClosedPort>,
}

impl Served {
    /// Spawns `cmd` (a `serve` whose listeners are port 0), collects its stdout and stderr
    /// while it runs, and waits (30 s at most) until it logs the ports it listens on.
    pub fn start(cmd: &mut Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("serve starts");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let collect = |pipe: Box<dyn Read + Send>| {
            let (log, tx) = (log.clone(), tx.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    if line.contains("reportgate listening") {
                        let _ = tx.send(strip_ansi(&line));
                    }
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            })
        };
        let readers = vec![
            collect(Box::new(child.stdout.take().unwrap())),
            collect(Box::new(child.stderr.take().unwrap())),
        ];
        let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) else {
            child.kill().ok();
            child.wait().ok();
            panic!(
                "serve did not say it listens within 30 s:\n{}",
                log.lock().unwrap()
            );
        };
        Self {
            child,
            port: field(&line, "port").expect("the API port is logged"),
            admin_port: field(&line, "admin_port"),
            log,
            readers,
            held: Vec::new(),
        }
    }

    /// Keeps `port` held (refusing connections) for as long as the child runs.
    pub fn holding(mut self, port: ClosedPort) -> Self {
        self.held.push(port);
        self
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn admin_url(&self) -> String {
        format!(
            "http://127.0.0.1:{}",
            self.admin_port.expect("an admin listener")
        )
    }

    /// What the child has logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits for the child to exit by itself and returns its exit code and whole log.
    pub fn wait(mut self) -> (Option<i32>, String) {
        let status = self.child.wait().unwrap();
        for r in self.readers.drain(..) {
            r.join().ok();
        }
        (status.code(), self.log())
    }

    /// Kills the child (SIGKILL) and returns its whole log.
    pub fn kill(mut self) -> String {
        self.child.kill().ok();
        self.wait().1
    }
}

impl Drop for Served {
    /// A test that fails half-way leaves no gateway behind.
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// The number logged as field `key`, in any log format: `"port":1`, `port=1`, `port: 1`.
fn field(line: &str, key: &str) -> Option<u16> {
    line.match_indices(key).find_map(|(at, _)| {
        let before = line[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            return None;
        }
        let rest = line[at + key.len()..].trim_start_matches('"');
        let rest = rest.strip_prefix('=').or_else(|| rest.strip_prefix(':'))?;
        let digits: String = rest
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    })
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A loopback port that refuses every connection for as long as the value lives: bound but
/// never listening, so nothing else can take it.
pub struct ClosedPort(socket2::Socket);

impl ClosedPort {
    pub fn new() -> Self {
        use socket2::{Domain, Socket, Type};
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let any: std::net::SocketAddr = ([127, 0, 0, 1], 0).into();
        s.bind(&any.into()).unwrap();
        Self(s)
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.0.local_addr().unwrap().as_socket().unwrap()
    }
}
