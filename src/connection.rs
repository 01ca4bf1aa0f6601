//! Serving connections with bounds on what a client can hold (docs/security.md):
//! a cap on open connections, a deadline for a connection's first request
//! and for idleness between requests (HTTP/1 and HTTP/2 alike), HTTP/2
//! keep-alive pings and a stream cap, and a deadline on writing a response
//! to a client that does not read it.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::Sleep;

/// HTTP/2: a PING every this long on a connection...
const H2_PING_EVERY: Duration = Duration::from_secs(20);
/// ... which must be answered within this, or the connection is closed.
const H2_PING_TIMEOUT: Duration = Duration::from_secs(20);
/// HTTP/2 requests one connection may have open at once.
const H2_MAX_STREAMS: u32 = 64;
/// After a graceful close starts, how long a connection with no request in
/// flight may take to finish before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// File descriptors kept back from the default connection cap: the
/// database pool, the JWKS client, logs.
const RESERVED_FDS: u64 = 64;

/// What bounds a client connection.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Connections open at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// The first request's headers (HTTP/1), and a first request at all,
    /// must arrive within this.
    pub header_timeout: Duration,
    /// A connection with no request in flight for this long is closed.
    pub idle_timeout: Duration,
    /// A response write that stalls (the client does not read) must drain
    /// within this, or the connection is closed and its buffers freed.
    pub write_timeout: Duration,
}

/// The default `MAX_CONNECTIONS`: the open-file limit (raised to its hard
/// limit first) less what the process needs besides client connections.
pub fn default_max_connections(db_connections: u32) -> usize {
    let files = rlimit::increase_nofile_limit(u64::MAX)
        .or_else(|_| rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft))
        .unwrap_or(1024);
    let spare = files.saturating_sub(RESERVED_FDS + u64::from(db_connections));
    usize::try_from(spare.clamp(16, 1 << 20)).unwrap_or(16)
}

/// Accept connections until `shutdown`, then let those open finish their
/// requests (each bounded by the request timeout and `write_timeout`).
pub async fn serve<S>(
    listener: TcpListener,
    app: S,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) where
    S: tower::Service<Request, Response = Response, Error = std::convert::Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(H2_PING_EVERY))
        .keep_alive_timeout(H2_PING_TIMEOUT)
        .max_concurrent_streams(H2_MAX_STREAMS);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopped) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut failures = AcceptFailures::default();
    loop {
        // At the cap, stop accepting: new connections wait in the backlog.
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => {
                    failures.reset();
                    conn
                }
                Err(e) => {
                    tokio::time::sleep(failures.next(&e)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let svc = TowerToHyperService::new(tracked(app.clone(), addr, Arc::clone(&activity)));
        let io = TokioIo::new(WriteDeadline::new(stream, limits.write_timeout));
        let conn = builder.serve_connection_with_upgrades(io, svc).into_owned();
        let stopped = stopped.clone();
        tokio::spawn(async move {
            drive(conn, &activity, limits, stopped).await;
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection gives its slot back when it ends.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
}

/// Accept errors (out of file descriptors, mostly) are backed off
/// exponentially, and logged once per streak rather than per attempt.
#[derive(Default)]
struct AcceptFailures {
    streak: u32,
}

impl AcceptFailures {
    fn next(&mut self, e: &io::Error) -> Duration {
        if self.streak == 0 {
            tracing::warn!(error = %e, "accept failed; backing off");
        }
        self.streak = self.streak.saturating_add(1);
        Duration::from_millis(10u64 << self.streak.min(7)).min(Duration::from_secs(1))
    }

    fn reset(&mut self) {
        if self.streak > 0 {
            tracing::info!(failures = self.streak, "accepting connections again");
        }
        self.streak = 0;
    }
}

/// Run one connection, closing it when it idles too long, and gracefully
/// when the server stops.
async fn drive<C>(
    conn: C,
    activity: &Activity,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
) where
    C: Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>> + GracefulClose,
{
    let mut conn = std::pin::pin!(conn);
    // Checked at the shorter of the two limits first, then when the idle
    // time could next reach the one that applies.
    let timer = tokio::time::sleep(limits.header_timeout.min(limits.idle_timeout));
    let mut timer = std::pin::pin!(timer);
    let mut closing = false;
    loop {
        tokio::select! {
            ended = conn.as_mut() => {
                if let Err(e) = ended {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            changed = stop.changed(), if !closing => {
                let _ = changed;
                conn.as_mut().close_gracefully();
                closing = true;
                timer.as_mut().reset(tokio::time::Instant::now() + CLOSE_GRACE);
            }
            () = &mut timer => {
                let limit = if closing {
                    // Asked to close: a connection idle this long is done
                    // with its last response, whatever hyper still holds.
                    CLOSE_GRACE
                } else if activity.served_any() {
                    limits.idle_timeout
                } else {
                    limits.header_timeout
                };
                let next = match activity.idle_for() {
                    Some(idle) if idle >= limit && closing => return,
                    Some(idle) if idle >= limit => {
                        conn.as_mut().close_gracefully();
                        closing = true;
                        CLOSE_GRACE
                    }
                    Some(idle) => limit - idle,
                    // A request in flight is bounded by the request timeout;
                    // look again once it could have idled a full limit.
                    None => limit,
                };
                timer.as_mut().reset(tokio::time::Instant::now() + next);
            }
        }
    }
}

/// A connection that can be asked to finish its requests and close.
trait GracefulClose {
    fn close_gracefully(self: Pin<&mut Self>);
}

impl<I, S, E> GracefulClose for hyper_util::server::conn::auto::UpgradeableConnection<'_, I, S, E>
where
    S: hyper::service::HttpService<Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::ResBody: 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, S::ResBody>,
{
    fn close_gracefully(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

/// Requests in flight on one connection, and since when it has had none.
struct Activity {
    in_flight: AtomicUsize,
    /// Milliseconds since `born` when the last request ended.
    idle_since: AtomicU64,
    served: AtomicBool,
    born: Instant,
}

impl Activity {
    fn new() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            served: AtomicBool::new(false),
            born: Instant::now(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// How long no request has been in flight; `None` while one is.
    fn idle_for(&self) -> Option<Duration> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let since = self.idle_since.load(Ordering::Acquire);
        Some(Duration::from_millis(self.now().saturating_sub(since)))
    }

    fn served_any(&self) -> bool {
        self.served.load(Ordering::Acquire)
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.served.store(true, Ordering::Release);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(Arc::clone(self))
    }
}

/// One request in flight, from its head until its response body is done
/// (or dropped: a client hang-up, an HTTP/2 reset).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.idle_since.store(self.0.now(), Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// `app` for one connection: the client address on each request, and each
/// request counted in `activity` until its response body is done.
fn tracked<S>(
    app: S,
    addr: SocketAddr,
    activity: Arc<Activity>,
) -> impl tower::Service<
    hyper::Request<Incoming>,
    Response = Response,
    Error = std::convert::Infallible,
    Future = impl Future<Output = Result<Response, std::convert::Infallible>> + Send,
> + Clone
+ Send
+ 'static
where
    S: tower::Service<Request, Response = Response, Error = std::convert::Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    tower::service_fn(move |req: hyper::Request<Incoming>| {
        let in_flight = activity.begin();
        let mut req = req.map(Body::new);
        req.extensions_mut().insert(ConnectInfo(addr));
        let call = tower::ServiceExt::oneshot(app.clone(), req);
        async move {
            let resp = call.await?;
            Ok(resp.map(|body| {
                Body::new(TrackedBody {
                    inner: body,
                    _in_flight: in_flight,
                })
            }))
        }
    })
}

/// A response body that keeps its request counted as in flight.
struct TrackedBody {
    inner: Body,
    _in_flight: InFlight,
}

impl hyper::body::Body for TrackedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A socket whose writes may stall (the peer's window full) for at most
/// `timeout` from the first write that could not go out until the server's
/// buffer is flushed; then writes fail with `TimedOut`, hyper closes the
/// connection and the response's bytes are freed.
struct WriteDeadline {
    inner: TcpStream,
    timeout: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl WriteDeadline {
    fn new(inner: TcpStream, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            stalled: None,
        }
    }

    /// A write is pending: start the clock if it is not running, and fail
    /// once it has run out.
    fn stall(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let timeout = self.timeout;
        let clock = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        ready!(clock.as_mut().poll(cx));
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the client did not read the response in time",
        )))
    }
}

impl AsyncRead for WriteDeadline {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for WriteDeadline {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Pending => self.stall(cx),
            ready => ready,
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Pending => self.stall(cx),
            ready => ready,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    /// hyper flushes once its buffer is written out: the stall is over.
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let flushed = ready!(Pin::new(&mut self.inner).poll_flush(cx));
        if flushed.is_ok() {
            self.stalled = None;
        }
        Poll::Ready(flushed)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
