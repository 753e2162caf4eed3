//! systemd integration: `sd_notify` messages to `$NOTIFY_SOCKET` (a unix datagram
//! socket, `@` for the abstract namespace) and the unit `hoist unit` writes.

use std::os::unix::net::UnixDatagram;

/// Sends `state` (newline-separated `KEY=VALUE`s) to `$NOTIFY_SOCKET`; a missing
/// variable or an unreachable socket is not an error for the pod (systemd's rule).
pub fn notify(state: &str) -> bool {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return false;
    };
    let Ok(sock) = UnixDatagram::unbound() else {
        return false;
    };
    let bytes = path.as_encoded_bytes();
    let sent = if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(name)
            .and_then(|a| sock.send_to_addr(state.as_bytes(), &a))
    } else {
        sock.send_to(state.as_bytes(), &path)
    };
    sent.is_ok()
}

/// Quotes a word for a unit's ExecStart (systemd's rules: double quotes, with `\`,
/// `"` escaped and `$`, `%` doubled).
fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=,@+".contains(&b));
    if plain {
        return word.into();
    }
    let mut s = String::from("\"");
    for c in word.chars() {
        match c {
            '\\' | '"' => {
                s.push('\\');
                s.push(c);
            }
            '$' => s.push_str("$$"),
            '%' => s.push_str("%%"),
            _ => s.push(c),
        }
    }
    s.push('"');
    s
}

/// A service unit that runs `hoist run` with `run_words` (the flags and images as the
/// user gave them): Type=notify, the image fetched first, gc after.
pub fn unit(hoist: &str, globals: &[String], image: &str, run_words: &[String]) -> String {
    let words: Vec<String> = run_words.iter().map(|w| quote(w)).collect();
    let mut hoist = quote(hoist);
    for g in globals {
        hoist.push(' ');
        hoist.push_str(&quote(g));
    }
    format!(
        "[Unit]\n\
         Description=hoist pod: {image}\n\
         Wants=network-online.target\n\
         After=network-online.target\n\
         \n\
         [Service]\n\
         Type=notify\n\
         NotifyAccess=all\n\
         ExecStartPre=-{hoist} fetch {}\n\
         ExecStart={hoist} run --notify {}\n\
         ExecStopPost={hoist} gc --grace-period 0s\n\
         KillMode=mixed\n\
         Delegate=yes\n\
         TimeoutStopSec=30\n\
         Restart=on-failure\n\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n",
        quote(image),
        words.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        let g = ["--dir".to_owned(), "/var/lib/hoist".to_owned()];
        let u = unit(
            "/usr/local/bin/hoist",
            &g,
            "busybox",
            &[
                "--net".into(),
                "none".into(),
                "busybox".into(),
                "--".into(),
                "sh".into(),
                "-c".into(),
                "echo $HOME 100%".into(),
            ],
        );
        assert!(u.contains("Type=notify\n"));
        assert!(
            u.contains("ExecStartPre=-/usr/local/bin/hoist --dir /var/lib/hoist fetch busybox\n")
        );
        assert!(
            u.contains(r#"run --notify --net none busybox -- sh -c "echo $$HOME 100%%""#),
            "{u}"
        );
        assert!(u.contains("KillMode=mixed\n") && u.contains("Delegate=yes\n"));
    }

    #[test]
    fn notifies() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("n.sock");
        let r = UnixDatagram::bind(&p).unwrap();
        // SAFETY of the test: the variable is read only by this test's call below.
        std::env::set_var("NOTIFY_SOCKET", &p);
        assert!(notify("READY=1\n"));
        std::env::remove_var("NOTIFY_SOCKET");
        let mut buf = [0u8; 64];
        let n = r.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\n");
    }
}
