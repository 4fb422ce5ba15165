//! Sources: what feeds the driver. Each runs on its own thread or task and
//! hands batches to a [`Sink`] (one channel operation per batch), until
//! the sink's stop signal or [`Source::stop`].

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use depmap_capture::udp::{KernelDrops, ListenerStats};
use depmap_capture::{
    DatagramBatch, FrameBatch, ListenerConfig, ListenerCounts, LiveCapture, LiveConfig, LiveError,
    LiveStats, UdpError, UdpListener,
};
use tokio::sync::{mpsc, watch};

/// The most frames one capture thread hands over in one batch.
const BATCH_FRAMES: usize = 4096;
/// The most captured bytes in one batch: with the driver's frame channel
/// of 16 batches this bounds what waits between the readers and the loop
/// (16 MiB in all, plus one batch in each reader's hands), whatever the
/// snaplen.
const BATCH_BYTES: usize = 1 << 20;
/// The longest a capture thread holds a partial batch.
const BATCH_WAIT: Duration = Duration::from_millis(50);
/// How often a capture thread reads libpcap's drop counters.
const STATS_EVERY: Duration = Duration::from_millis(250);
/// How long a capture thread drains the kernel buffer after a stop.
const DRAIN_KERNEL: Duration = Duration::from_secs(1);
/// The most datagrams one listener hands over in one batch.
const BATCH_DATAGRAMS: usize = 256;

/// A future a source's [`Source::join`] returns.
pub type Joining<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Where a source sends what it reads, and how it hears it should stop.
#[derive(Clone, Debug)]
pub struct Sink {
    frames: mpsc::Sender<FrameBatch>,
    datagrams: mpsc::Sender<DatagramBatch>,
    stop: watch::Receiver<bool>,
}

impl Sink {
    pub(crate) fn new(
        frames: mpsc::Sender<FrameBatch>,
        datagrams: mpsc::Sender<DatagramBatch>,
        stop: watch::Receiver<bool>,
    ) -> Sink {
        Sink {
            frames,
            datagrams,
            stop,
        }
    }

    /// Where batches of captured frames go.
    pub fn frames(&self) -> mpsc::Sender<FrameBatch> {
        self.frames.clone()
    }

    /// Where batches of flow-export datagrams go.
    pub fn datagrams(&self) -> mpsc::Sender<DatagramBatch> {
        self.datagrams.clone()
    }

    /// Changes to `true` when the driver stops.
    pub fn stop(&self) -> watch::Receiver<bool> {
        self.stop.clone()
    }
}

/// A source's counters, by value.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SourceStats {
    /// A live interface.
    Interface {
        /// Its name.
        name: String,
        /// libpcap's counters.
        live: LiveStats,
        /// Whether its reader runs.
        up: bool,
    },
    /// A flow-export listener.
    Listener {
        /// The bound address.
        addr: SocketAddr,
        /// Datagrams, bytes, exporters not allowed, receive errors and the
        /// socket's kernel drops (where readable).
        counts: ListenerCounts,
    },
    /// A watched directory.
    Watch {
        /// The directory.
        directory: std::path::PathBuf,
        /// Files by result.
        files: WatchCounts,
    },
}

/// Files from a watched directory, by result.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WatchCounts {
    /// Ingested (wholly or up to an error in the file).
    pub ingested: u64,
    /// Skipped: the content is in the store already.
    pub repeated: u64,
    /// Failed: not a capture, or the store failed (tried again later).
    pub failed: u64,
}

/// Something that feeds the driver: opened (with whatever privileges that
/// needs) before it is handed over, started by the driver.
pub trait Source: Send {
    /// Starts reading on a thread or task of its own, handing batches to
    /// `sink` until its stop signal (or [`Source::stop`]).
    fn start(&mut self, sink: Sink) -> std::io::Result<()>;
    /// Asks it to stop; it drains what it holds (bounded) and ends.
    fn stop(&mut self) {}
    /// Whether it ended on its own (an error: the interface went away).
    fn is_finished(&self) -> bool;
    /// Waits for it to end, after a stop.
    fn join(&mut self) -> Joining<'_>;
    /// Its counters now.
    fn stats(&self) -> SourceStats;
}

/// A live interface: libpcap's blocking reads on an OS thread of its own.
pub struct Interface {
    config: LiveConfig,
    cap: Option<LiveCapture>,
    stop: Arc<AtomicBool>,
    new_filter: Arc<Mutex<Option<String>>>,
    live: Arc<Mutex<LiveStats>>,
    up: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Interface {
    /// Opens the interface (needs CAP_NET_RAW); reading starts with
    /// [`Source::start`].
    pub fn open(config: LiveConfig) -> Result<Interface, LiveError> {
        let cap = LiveCapture::open(&config)?;
        tracing::info!(
            interface = %config.interface,
            linktype = cap.linktype(),
            filter = config.filter.as_deref().unwrap_or(""),
            snaplen = config.snaplen,
            buffer_bytes = config.buffer_bytes,
            "capturing"
        );
        Ok(Interface {
            config,
            cap: Some(cap),
            stop: Arc::new(AtomicBool::new(false)),
            new_filter: Arc::new(Mutex::new(None)),
            live: Arc::new(Mutex::new(LiveStats::default())),
            up: Arc::new(AtomicBool::new(false)),
            thread: None,
        })
    }

    /// The interface's settings.
    pub fn config(&self) -> &LiveConfig {
        &self.config
    }

    /// Changes the capture filter; the reader applies it between batches.
    pub fn set_filter(&mut self, filter: Option<String>) {
        if let Ok(mut f) = self.new_filter.lock() {
            *f = Some(filter.clone().unwrap_or_default());
        }
        self.config.filter = filter;
    }

    /// The final counters, once the reader has ended.
    pub fn live_stats(&self) -> LiveStats {
        self.live.lock().map(|s| *s).unwrap_or_default()
    }
}

impl Source for Interface {
    fn start(&mut self, sink: Sink) -> std::io::Result<()> {
        let Some(cap) = self.cap.take() else {
            return Ok(());
        };
        self.up.store(true, Ordering::Relaxed);
        let reader = Reader {
            tx: sink.frames(),
            stop: Arc::clone(&self.stop),
            new_filter: Arc::clone(&self.new_filter),
            live: Arc::clone(&self.live),
            up: Arc::clone(&self.up),
        };
        let thread = std::thread::Builder::new()
            .name(format!("capture-{}", self.config.interface))
            .spawn(move || reader.run(cap))
            .inspect_err(|_| self.up.store(false, Ordering::Relaxed))?;
        self.thread = Some(thread);
        Ok(())
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    fn is_finished(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| t.is_finished())
    }

    fn join(&mut self) -> Joining<'_> {
        let thread = self.thread.take();
        let up = Arc::clone(&self.up);
        Box::pin(async move {
            if let Some(t) = thread {
                let _ = tokio::task::spawn_blocking(move || t.join()).await;
            }
            up.store(false, Ordering::Relaxed);
        })
    }

    fn stats(&self) -> SourceStats {
        SourceStats::Interface {
            name: self.config.interface.clone(),
            live: self.live_stats(),
            up: self.up.load(Ordering::Relaxed),
        }
    }
}

/// A capture thread's side of an [`Interface`].
struct Reader {
    tx: mpsc::Sender<FrameBatch>,
    stop: Arc<AtomicBool>,
    new_filter: Arc<Mutex<Option<String>>>,
    live: Arc<Mutex<LiveStats>>,
    up: Arc<AtomicBool>,
}

impl Reader {
    /// Batches from libpcap to the loop until told to stop, then what the
    /// kernel still holds (bounded in time), so traffic that arrived before
    /// the stop is counted.
    fn run(self, mut cap: LiveCapture) {
        let name = cap.interface().to_string();
        let mut last_stats = Instant::now();
        let publish = |cap: &mut LiveCapture| {
            if let Ok(s) = cap.stats() {
                if let Ok(mut f) = self.live.lock() {
                    *f = s;
                }
            }
        };
        while !self.stop.load(Ordering::Relaxed) {
            let change = self.new_filter.lock().ok().and_then(|mut f| f.take());
            if let Some(f) = change {
                match cap.set_filter(&f) {
                    Ok(()) => {
                        tracing::info!(interface = %name, filter = %f, "capture filter changed")
                    }
                    Err(e) => {
                        tracing::error!(interface = %name, error = %e, "capture filter not changed; the previous one stays")
                    }
                }
            }
            let mut batch = FrameBatch::new();
            match cap.next_batch(&mut batch, BATCH_FRAMES, BATCH_BYTES, BATCH_WAIT) {
                Ok(0) => {}
                Ok(_) => {
                    if self.tx.blocking_send(batch).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    tracing::error!(interface = %name, error = %e, "capture stopped");
                    break;
                }
            }
            if last_stats.elapsed() >= STATS_EVERY {
                publish(&mut cap);
                last_stats = Instant::now();
            }
        }
        let until = Instant::now() + DRAIN_KERNEL;
        while Instant::now() < until {
            let mut batch = FrameBatch::new();
            match cap.next_batch(&mut batch, BATCH_FRAMES, BATCH_BYTES, BATCH_WAIT) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if self.tx.blocking_send(batch).is_err() {
                        break;
                    }
                }
            }
        }
        publish(&mut cap);
        self.up.store(false, Ordering::Relaxed);
    }
}

/// A UDP socket receiving flow exports, on a tokio task.
pub struct Listener {
    socket: Option<UdpListener>,
    addr: SocketAddr,
    recv_buffer: usize,
    stats: Arc<ListenerStats>,
    drops: KernelDrops,
    /// Kernel drops read by the task just before it closed the socket
    /// (the count is gone with the socket).
    final_drops: Arc<Mutex<Option<Option<u64>>>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Listener {
    /// Binds the socket; receiving starts with [`Source::start`].
    pub fn bind(addr: SocketAddr, cfg: &ListenerConfig) -> Result<Listener, UdpError> {
        let socket = UdpListener::bind(addr, cfg)?;
        Ok(Listener {
            addr: socket.local_addr(),
            recv_buffer: socket.recv_buffer(),
            stats: socket.stats(),
            drops: socket.drop_counter(),
            final_drops: Arc::new(Mutex::new(None)),
            socket: Some(socket),
            task: None,
        })
    }

    /// The bound address (port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The receive buffer the kernel granted, in bytes.
    pub fn recv_buffer(&self) -> usize {
        self.recv_buffer
    }
}

impl Source for Listener {
    fn start(&mut self, sink: Sink) -> std::io::Result<()> {
        let Some(socket) = self.socket.take() else {
            return Ok(());
        };
        let final_drops = Arc::clone(&self.final_drops);
        let drops = self.drops;
        self.task = Some(tokio::spawn(async move {
            let r = receive(&socket, sink.datagrams(), sink.stop()).await;
            let n = drops.read();
            drop(socket);
            if let Ok(mut f) = final_drops.lock() {
                *f = Some(n);
            }
            r
        }));
        Ok(())
    }

    fn is_finished(&self) -> bool {
        self.task.as_ref().is_some_and(|t| t.is_finished())
    }

    fn join(&mut self) -> Joining<'_> {
        let task = self.task.take();
        let addr = self.addr;
        Box::pin(async move {
            if let Some(t) = task {
                match t.await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::error!(error = %format!("receiving on {addr}/udp: {e}"), "flow listener failed")
                    }
                    Err(e) => tracing::error!(error = %e, "flow listener task failed"),
                }
            }
        })
    }

    fn stats(&self) -> SourceStats {
        let kernel_drops = match self.final_drops.lock().ok().and_then(|f| *f) {
            Some(n) => n,
            None => self.drops.read(),
        };
        SourceStats::Listener {
            addr: self.addr,
            counts: ListenerCounts {
                kernel_drops,
                ..self.stats.load(None)
            },
        }
    }
}

/// Batches of datagrams to the loop until told to stop, then a final drain
/// of what the socket holds.
async fn receive(
    listener: &UdpListener,
    tx: mpsc::Sender<DatagramBatch>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    loop {
        let mut batch = DatagramBatch::new();
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            res = listener.recv_batch(&mut batch, BATCH_DATAGRAMS) => {
                res?;
                if tx.send(batch).await.is_err() {
                    return Ok(());
                }
            }
        }
    }
    loop {
        let mut batch = DatagramBatch::new();
        let n = listener.drain(&mut batch, BATCH_DATAGRAMS)?;
        if n == 0 || tx.send(batch).await.is_err() {
            return Ok(());
        }
    }
}
