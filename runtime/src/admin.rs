//! The admin HTTP server: `/metrics` (Prometheus text), `/livez`, `/readyz`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::CONTENT_TYPE;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// Answers `/readyz`.
pub type Readiness = Arc<dyn Fn() -> bool + Send + Sync>;

/// What every admin handler answers with.
pub type Reply = Response<Full<Bytes>>;

const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves `/metrics`, `/livez` and `/readyz` on `listener` until `shutdown`; connections in
/// progress finish on their own.
pub async fn serve(
    listener: TcpListener,
    registry: Arc<Registry>,
    ready: Readiness,
    shutdown: CancellationToken,
) {
    let handler = move |request: Request<Incoming>| {
        let reply = respond(&request, &registry, &ready);
        async move { reply }
    };
    serve_with(listener, handler, shutdown).await;
}

/// Serves HTTP/1.1 on `listener` with `handler` until `shutdown` (the speaker adds its own
/// paths in front of [`respond`]).
pub async fn serve_with<H, F>(listener: TcpListener, handler: H, shutdown: CancellationToken)
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    warn!(%error, "admin server accept failed");
                    continue;
                }
            },
        };
        let handler = handler.clone();
        let service = service_fn(move |request| {
            let reply = handler(request);
            async move { Ok::<_, Infallible>(reply.await) }
        });
        tokio::spawn(async move {
            if let Err(error) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                debug!(%error, %peer, "admin connection ended with an error");
            }
        });
    }
}

/// The answer to `GET /metrics`, `/livez`, `/readyz` (and 404/405 for anything else).
pub fn respond<B>(request: &Request<B>, registry: &Registry, ready: &Readiness) -> Reply {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
    }
    match request.uri().path() {
        "/metrics" => match crate::metrics::encode(registry) {
            Ok(body) => reply(StatusCode::OK, METRICS_CONTENT_TYPE, body),
            Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "encoding failed\n"),
        },
        "/livez" => text(StatusCode::OK, "ok\n"),
        "/readyz" => {
            if ready() {
                text(StatusCode::OK, "ok\n")
            } else {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "not ready: waiting for the caches and a valid config\n",
                )
            }
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: try /metrics, /livez, /readyz\n",
        ),
    }
}

/// A plain-text reply.
pub fn text(status: StatusCode, body: &'static str) -> Reply {
    reply(status, "text/plain; charset=utf-8", body)
}

/// A reply with `body` of `content_type`.
pub fn reply(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Reply {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    response
}

/// Binds the admin address (port 0 picks one; the caller logs what was bound).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_testsupport::http::http_get;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[tokio::test]
    async fn serves_metrics_liveness_and_readiness() {
        let mut registry = Registry::default();
        let gauges = crate::metrics::ConfigGauges::register(&mut registry);
        gauges.set(true, false);
        let listener = bind("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("bound");
        let ready_flag = Arc::new(AtomicBool::new(false));
        let flag = ready_flag.clone();
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(serve(
            listener,
            Arc::new(registry),
            Arc::new(move || flag.load(Ordering::SeqCst)),
            shutdown.clone(),
        ));

        let (code, metrics) = http_get(addr, "/metrics").await;
        assert_eq!(code, 200, "{metrics}");
        assert!(metrics.contains("herald_config_loaded 1"), "{metrics}");
        assert_eq!(http_get(addr, "/livez").await.0, 200);
        assert_eq!(http_get(addr, "/readyz").await.0, 503);
        ready_flag.store(true, Ordering::SeqCst);
        assert_eq!(http_get(addr, "/readyz").await.0, 200);
        assert_eq!(http_get(addr, "/nope").await.0, 404);

        shutdown.cancel();
        server.await.expect("server stops on shutdown");
    }
}
