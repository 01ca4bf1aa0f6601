//! MCP sessions counted and owned where rmcp makes them: a session manager
//! around rmcp's own that gives each session the user whose request
//! created it, and keeps every session and every long-lived `GET /mcp`
//! stream within its caps, whatever the request's headers said.
//!
//! The guard (`mod.rs`) runs rmcp inside [`Opener::scope`]: the request's
//! user is a task-local that `create_session` reads (rmcp calls it inline,
//! while handling the `initialize` request). A refusal is left there for
//! the guard, which answers 429 instead of rmcp's 500.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::Stream;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError,
};
use rmcp::transport::streamable_http_server::session::{
    ServerSseMessage, SessionId, SessionManager,
};

/// Why a session or stream was not opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// `MCP_MAX_SESSIONS` sessions are open.
    Sessions,
    /// The user has `MCP_MAX_SESSIONS_PER_USER` sessions open.
    UserSessions,
    /// `MCP_MAX_STREAMS` `GET /mcp` streams are open.
    Streams,
    /// The user has `MCP_MAX_STREAMS_PER_USER` streams open.
    UserStreams,
}

impl Refused {
    /// The 429's detail.
    pub fn detail(self) -> &'static str {
        match self {
            Self::Sessions => "Too many MCP sessions on this server (MCP_MAX_SESSIONS)",
            Self::UserSessions => "Too many MCP sessions for this user (MCP_MAX_SESSIONS_PER_USER)",
            Self::Streams => "Too many MCP streams on this server (MCP_MAX_STREAMS)",
            Self::UserStreams => "Too many MCP streams for this user (MCP_MAX_STREAMS_PER_USER)",
        }
    }

    /// The `reason` of `rate_limited_total`.
    pub fn metric(self) -> &'static str {
        match self {
            Self::Sessions => "mcp_sessions",
            Self::UserSessions => "mcp_user_sessions",
            Self::Streams => "mcp_streams",
            Self::UserStreams => "mcp_user_streams",
        }
    }
}

/// The user of the request rmcp is handling, and what was refused them.
pub struct Opener {
    user: String,
    refused: Cell<Option<Refused>>,
}

tokio::task_local! {
    static OPENER: Opener;
}

impl Opener {
    /// Run `f` (rmcp handling a request) as `user`; what it was refused.
    pub async fn scope<F: Future>(user: String, f: F) -> (F::Output, Option<Refused>) {
        let opener = Opener {
            user,
            refused: Cell::new(None),
        };
        OPENER
            .scope(opener, async move {
                let out = f.await;
                (out, OPENER.with(|o| o.refused.get()))
            })
            .await
    }

    /// The user of the request being handled; `None` outside [`scope`]
    /// (then nothing is opened).
    fn user() -> Option<String> {
        OPENER.try_with(|o| o.user.clone()).ok()
    }

    fn refuse(why: Refused) -> SessionError {
        let _ = OPENER.try_with(|o| o.refused.set(Some(why)));
        SessionError::Refused(why)
    }
}

/// The caps.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub sessions: usize,
    pub sessions_per_user: usize,
    pub streams: usize,
    pub streams_per_user: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("refused: {}", .0.detail())]
    Refused(Refused),
    #[error("no user for this request")]
    NoUser,
    #[error(transparent)]
    Local(#[from] LocalSessionManagerError),
}

/// Who owns what, counted.
#[derive(Default)]
struct Books {
    owners: HashMap<SessionId, String>,
    sessions: HashMap<String, usize>,
    streams: HashMap<String, usize>,
    /// The places taken in `sessions`, and in `streams`, in all.
    open_sessions: usize,
    open_streams: usize,
}

impl Books {
    fn take(map: &mut HashMap<String, usize>, user: &str) {
        if let Some(n) = map.get_mut(user) {
            *n -= 1;
            if *n == 0 {
                map.remove(user);
            }
        }
    }
}

/// rmcp's in-memory sessions, owned and counted.
pub struct OwnedSessions {
    inner: LocalSessionManager,
    caps: Caps,
    books: Arc<Mutex<Books>>,
}

impl OwnedSessions {
    pub fn new(inner: LocalSessionManager, caps: Caps) -> Self {
        Self {
            inner,
            caps,
            books: Arc::default(),
        }
    }

    fn books(&self) -> std::sync::MutexGuard<'_, Books> {
        self.books.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The user who opened session `id`, while it is open.
    pub fn owner(&self, id: &str) -> Option<String> {
        self.books().owners.get(id).cloned()
    }

    /// Take a stream's place for the owner of session `id`.
    fn stream_permit(&self, id: &SessionId) -> Result<StreamPermit, SessionError> {
        let mut books = self.books();
        let Some(user) = books.owners.get(id).cloned() else {
            // rmcp answers 404 for an unknown session itself.
            return Err(SessionError::NoUser);
        };
        if books.streams.get(&user).copied().unwrap_or(0) >= self.caps.streams_per_user {
            return Err(Opener::refuse(Refused::UserStreams));
        }
        if books.open_streams >= self.caps.streams {
            return Err(Opener::refuse(Refused::Streams));
        }
        *books.streams.entry(user.clone()).or_default() += 1;
        books.open_streams += 1;
        Ok(StreamPermit {
            user,
            books: Arc::clone(&self.books),
        })
    }
}

/// A long-lived stream's place; dropping it (the stream ended or its
/// client went) frees it.
struct StreamPermit {
    user: String,
    books: Arc<Mutex<Books>>,
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        let mut books = self.books.lock().unwrap_or_else(|e| e.into_inner());
        Books::take(&mut books.streams, &self.user);
        books.open_streams -= 1;
    }
}

/// A stream holding its place.
struct Counted<S> {
    inner: S,
    _permit: StreamPermit,
}

impl<S: Stream + Unpin> Stream for Counted<S> {
    type Item = S::Item;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::pin::Pin::new(&mut self.inner).poll_next(cx)
    }
}

impl SessionManager for OwnedSessions {
    type Error = SessionError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let user = Opener::user().ok_or(SessionError::NoUser)?;
        {
            // The place is taken before the session exists, so that
            // concurrent `initialize`s cannot all pass the caps.
            let mut books = self.books();
            if books.sessions.get(&user).copied().unwrap_or(0) >= self.caps.sessions_per_user {
                return Err(Opener::refuse(Refused::UserSessions));
            }
            if books.open_sessions >= self.caps.sessions {
                return Err(Opener::refuse(Refused::Sessions));
            }
            *books.sessions.entry(user.clone()).or_default() += 1;
            books.open_sessions += 1;
        }
        match self.inner.create_session().await {
            Ok((id, transport)) => {
                self.books().owners.insert(id.clone(), user);
                Ok((id, transport))
            }
            Err(e) => {
                let mut books = self.books();
                Books::take(&mut books.sessions, &user);
                books.open_sessions -= 1;
                Err(e.into())
            }
        }
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        Ok(self.inner.initialize_session(id, message).await?)
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        Ok(self.inner.has_session(id).await?)
    }

    /// Called on `DELETE /mcp` and when a session's worker ends (idle):
    /// the owner's place is freed once.
    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        let closed = self.inner.close_session(id).await;
        let mut books = self.books();
        if let Some(user) = books.owners.remove(id) {
            Books::take(&mut books.sessions, &user);
            books.open_sessions -= 1;
        }
        Ok(closed?)
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.inner.create_stream(id, message).await?)
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        Ok(self.inner.accept_message(id, message).await?)
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let permit = self.stream_permit(id)?;
        let inner = self.inner.create_standalone_stream(id).await?;
        Ok(Counted {
            inner: Box::pin(inner),
            _permit: permit,
        })
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let permit = self.stream_permit(id)?;
        let inner = self.inner.resume(id, last_event_id).await?;
        Ok(Counted {
            inner: Box::pin(inner),
            _permit: permit,
        })
    }
}
