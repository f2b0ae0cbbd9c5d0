//! BGP segments on the wire: tcpdump in the router namespace, its lines parsed on a
//! thread, so benchmarks can tell when an UPDATE (anything longer than a 19-byte
//! KEEPALIVE) from a node was seen by the router's interface.

use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::lab::Lab;
use crate::logs::parse_epoch_seconds;

/// One BGP segment on the wire: (epoch µs, source address, TCP payload length).
pub type Segment = (i64, IpAddr, usize);

/// tcpdump in the router namespace, its lines parsed into [`Segment`]s on a thread.
#[derive(Debug)]
pub struct Capture {
    child: Child,
    segments: Arc<Mutex<Vec<Segment>>>,
}

impl Capture {
    pub fn start(lab: &Lab) -> Capture {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &lab.router_ns()])
            .args([
                "tcpdump",
                "-i",
                "eth0",
                "-n",
                "-tt",
                "-l",
                "--immediate-mode",
            ])
            .arg("tcp port 179")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tcpdump (apt-get install tcpdump)");
        let stdout = child.stdout.take().expect("tcpdump stdout");
        let segments = Arc::new(Mutex::new(Vec::new()));
        let sink = segments.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(segment) = parse_segment(&line) {
                    sink.lock().unwrap_or_else(|p| p.into_inner()).push(segment);
                }
            }
        });
        std::thread::sleep(Duration::from_millis(500)); // tcpdump attaches
        Capture { child, segments }
    }

    /// The first segment after `after_us` from `source` longer than a KEEPALIVE (19).
    pub fn first_update(&self, source: IpAddr, after_us: i64) -> Option<i64> {
        let segments = self.segments.lock().unwrap_or_else(|p| p.into_inner());
        segments
            .iter()
            .filter(|(t, s, len)| *t > after_us && *s == source && *len > 19)
            .map(|(t, _, _)| *t)
            .min()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `1795416084.605236 IP 172.30.0.12.50546 > 172.30.0.1.179: Flags [P.], ..., length 28: BGP`
pub fn parse_segment(line: &str) -> Option<Segment> {
    let mut words = line.split_whitespace();
    let time = parse_epoch_seconds(words.next()?)?;
    let _ip = words.next()?;
    let source = words.next()?;
    let (address, _port) = source.rsplit_once('.')?;
    let length = line
        .split("length ")
        .nth(1)?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    Some((time, address.parse().ok()?, length))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcpdump_lines_become_segments() {
        let v4 = "1795416084.605236 IP 172.30.0.12.50546 > 172.30.0.1.179: Flags [P.], seq 1:29, ack 1, win 63, length 28: BGP";
        assert_eq!(
            parse_segment(v4),
            Some((
                1_795_416_084_605_236,
                "172.30.0.12".parse().expect("ip"),
                28
            ))
        );
        let v6 = "1795416085.089667 IP6 fd00:30::11.48518 > fd00:30::1.179: Flags [P.], seq 1:20, ack 19, win 64, length 19: BGP";
        assert_eq!(parse_segment(v6).map(|s| s.2), Some(19));
        assert_eq!(parse_segment("listening on eth0"), None);
    }
}
