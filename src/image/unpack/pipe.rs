//! The layer as a pipeline over three threads: the caller's thread reads the blob and
//! decompresses it (the reader it was given need not be `Send`, so it stays there), a
//! hashing thread computes the diff_id (`hash`), and an applying thread parses the tar
//! stream and makes the files (`entry`). Decompression, hashing and file-system calls
//! cost about the same per layer, so they overlap instead of adding up. Chunks of
//! 1 MiB go to both consumers behind an `Arc`; the bounded channels hold a few, so
//! memory stays small and a slow consumer slows the reader.

use std::io::{self, Read};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;

use super::hash::Hasher;

const CHUNK: usize = 1 << 20;

/// A chunk of the uncompressed layer, or the error that ended the source.
pub type Chunk = io::Result<Arc<Vec<u8>>>;

/// Channel capacity in chunks.
pub const DEPTH: usize = 4;

/// How pumping ended.
pub enum Pumped {
    /// The whole stream went to both consumers.
    All,
    /// The applying side stopped listening (it failed; its error says why).
    Stopped,
}

/// Reads `source` to its end in chunks, sending each to the hasher and to `apply`. A
/// read error is sent to `apply` as well (it reports it, with the entry it was in).
pub fn pump(mut source: impl Read, apply: &SyncSender<Chunk>, hasher: &mut Hasher) -> Pumped {
    loop {
        let mut buf = vec![0u8; CHUNK];
        let mut got = 0;
        let mut failed = None;
        while got < CHUNK {
            match source.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        if got > 0 {
            buf.truncate(got);
            let chunk = Arc::new(buf);
            hasher.update(Arc::clone(&chunk));
            if apply.send(Ok(chunk)).is_err() {
                return Pumped::Stopped;
            }
        }
        if let Some(e) = failed {
            return match apply.send(Err(e)) {
                Ok(()) => Pumped::All,
                Err(_) => Pumped::Stopped,
            };
        }
        if got < CHUNK {
            return Pumped::All;
        }
    }
}

/// The applying side's end: the chunks as one byte stream, EOF when the sender is gone.
pub struct ChunkReader {
    rx: Receiver<Chunk>,
    cur: Option<Arc<Vec<u8>>>,
    pos: usize,
}

impl ChunkReader {
    pub fn new(rx: Receiver<Chunk>) -> Self {
        ChunkReader {
            rx,
            cur: None,
            pos: 0,
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if let Some(c) = &self.cur {
                if self.pos < c.len() {
                    let n = buf.len().min(c.len() - self.pos);
                    buf[..n].copy_from_slice(&c[self.pos..self.pos + n]);
                    self.pos += n;
                    return Ok(n);
                }
            }
            match self.rx.recv() {
                Ok(Ok(c)) => {
                    self.cur = Some(c);
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::sync_channel;

    #[test]
    fn bytes_arrive_whole_and_in_order() {
        let data: Vec<u8> = (0..3_500_000u32).map(|i| i.to_le_bytes()[0]).collect();
        let (tx, rx) = sync_channel(DEPTH);
        let mut h = Hasher::new();
        let out = std::thread::scope(|s| {
            let t = s.spawn(move || {
                let mut out = Vec::new();
                ChunkReader::new(rx).read_to_end(&mut out).unwrap();
                out
            });
            assert!(matches!(pump(&data[..], &tx, &mut h), Pumped::All));
            drop(tx);
            t.join().unwrap()
        });
        assert_eq!(out, data);
        let mut inline = Hasher::inline();
        inline.update(Arc::new(data));
        assert_eq!(h.finish().unwrap(), inline.finish().unwrap());
    }

    #[test]
    fn a_source_error_reaches_the_reader() {
        struct Fails(bool);
        impl Read for Fails {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if std::mem::replace(&mut self.0, true) {
                    Err(io::Error::other("disk on fire"))
                } else {
                    buf[..3].copy_from_slice(b"abc");
                    Ok(3)
                }
            }
        }
        let (tx, rx) = sync_channel(DEPTH);
        let mut h = Hasher::new();
        assert!(matches!(pump(Fails(false), &tx, &mut h), Pumped::All));
        drop(tx);
        let mut r = ChunkReader::new(rx);
        let mut b = [0u8; 8];
        assert_eq!(r.read(&mut b).unwrap(), 3);
        assert_eq!(r.read(&mut b).unwrap_err().to_string(), "disk on fire");
    }

    #[test]
    fn a_gone_consumer_stops_the_pump() {
        let (tx, rx) = sync_channel(DEPTH);
        drop(rx);
        let mut h = Hasher::new();
        let data = vec![1u8; 3 * CHUNK];
        assert!(matches!(pump(&data[..], &tx, &mut h), Pumped::Stopped));
    }
}
