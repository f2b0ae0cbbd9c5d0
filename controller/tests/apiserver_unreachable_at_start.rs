//! A controller that starts while the API server does not answer (a control plane still
//! coming up, a network path that holds connections) serves its liveness at once, reads the
//! server's version once the server answers, and allocates: nothing waits on, or is decided
//! for good by, the first attempt.

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use herald_testsupport::apiserver::{TestEnv, TestNamespace, target_tmp_dir, testenv};
use herald_testsupport::wait::eventually;
use support::Controller;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const CONFIG: &str =
    "address-pools:\n- {name: default, protocol: bgp, addresses: ['10.64.0.10-10.64.0.20']}\n";

/// A TCP gate in front of the API server: while shut it accepts connections and holds them
/// without a byte, as a server that hangs would; when it opens it resets the held ones
/// (their requests fail) and forwards every new one.
struct Gate {
    addr: SocketAddr,
    open: watch::Sender<bool>,
}

impl Gate {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the gate");
        let addr = listener.local_addr().expect("gate address");
        let (open, opened) = watch::channel(false);
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let mut opened = opened.clone();
                tokio::spawn(async move {
                    if !*opened.borrow_and_update() {
                        let _ = opened.wait_for(|open| *open).await;
                        return; // drops the held connection
                    }
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
            }
        });
        Self { addr, open }
    }

    fn open(&self) {
        self.open.send_replace(true);
    }
}

/// The address of the API server `env`'s kubeconfig names.
fn server_of(env: &TestEnv) -> SocketAddr {
    let text = std::fs::read_to_string(&env.kubeconfig).expect("read the kubeconfig");
    text.lines()
        .find_map(|line| line.trim().strip_prefix("server: https://"))
        .expect("a server line")
        .parse()
        .expect("server host:port")
}

/// `env`'s kubeconfig with its server address replaced by `addr`.
fn kubeconfig_via(env: &TestEnv, addr: SocketAddr) -> PathBuf {
    let text = std::fs::read_to_string(&env.kubeconfig).expect("read the kubeconfig");
    let text = text.replace(
        &format!("server: https://{}", server_of(env)),
        &format!("server: https://{addr}"),
    );
    let dir = target_tmp_dir();
    std::fs::create_dir_all(&dir).expect("target tmp dir");
    let path = dir.join(format!("kubeconfig-gate-{}", addr.port()));
    std::fs::write(&path, text).expect("write the gated kubeconfig");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_started_before_its_api_server_answers_is_live_and_allocates_once_it_does() {
    let env = testenv();
    let ns = TestNamespace::create("unreachable").await;
    ns.set_config(CONFIG).await;
    ns.create_lb("web", 80).await;

    let gate = Gate::start(server_of(env)).await;
    let kubeconfig = kubeconfig_via(env, gate.addr);
    let gated = TestEnv {
        dir: env.dir.clone(),
        kubeconfig,
        start_time: Duration::ZERO,
    };

    // `start_with` returns once the admin server is listening: with the API server silent.
    let controller = Controller::start_with(
        &gated,
        &ns.name,
        "unreachable-a",
        &["--namespace", &ns.name],
    );
    assert_eq!(controller.admin_get("/livez").await.0, 200);
    assert_eq!(controller.admin_get("/readyz").await.0, 503);
    eventually("the version read to fail on the silent server", || async {
        controller
            .log()
            .contains("cannot read the API server version")
            .then_some(())
    })
    .await;
    assert!(
        !controller.log().contains("connected to the API server"),
        "{}",
        controller.log()
    );

    // The server answers: the version is read on a retry and the Service is allocated.
    gate.open();
    let addresses = ns.wait_for_ingress("web").await;
    assert_eq!(addresses, ["10.64.0.10"]);
    eventually("the version read on a retry", || async {
        controller
            .log()
            .lines()
            .any(|line| {
                line.contains("connected to the API server")
                    && line.contains("v1.20")
                    && line.contains(r#""write_ip_mode":false"#)
            })
            .then_some(())
    })
    .await;
    eventually("ready", || async {
        (controller.admin_get("/readyz").await.0 == 200).then_some(())
    })
    .await;
}
