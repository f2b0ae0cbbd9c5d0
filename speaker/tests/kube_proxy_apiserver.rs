//! The speaker binary in Kubernetes mode against a real kube-apiserver (1.20.2), serving a
//! proxied Service with TLS terminated by a certificate from a `kubernetes.io/tls` Secret
//! (`herald.dev/tls-secret`), all on loopback addresses:
//! - the API server has no `ingress[].ipMode` (before 1.29), so `/status` says kube-proxy
//!   would intercept the proxied address;
//! - `openssl s_client` gets the Secret's certificate; the Secret is replaced, a client
//!   that held a connection from before keeps it, new handshakes get the new certificate;
//! - a deleted Secret is reported and the last good certificate stays in use.

mod bin_support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use bgp::{PeerConfig, PeerStats, SessionState, Speaker, SpeakerConfig};
use bin_support::Running;
use herald_testsupport::apiserver::{TestNamespace, testenv};
use herald_testsupport::pki::self_signed;
use herald_testsupport::ports::free_port;
use herald_testsupport::wait::eventually;
use k8s_openapi::api::core::v1::{Node, Secret};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};

const NODE_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 51));
const ROUTER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 52));
/// The Service address (the pool's only one): the proxy listens here.
const VIP: &str = "127.0.0.53";
/// The backend pod's address.
const POD_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 54);

async fn router_stats(router: &Speaker) -> PeerStats {
    router.stats().await.into_iter().next().expect("one peer")
}

async fn wait_router(router: &Speaker, what: &str, check: impl Fn(&PeerStats) -> bool) {
    eventually(what, || async {
        let stats = router_stats(router).await;
        check(&stats).then_some(())
    })
    .await;
}

/// A self-signed certificate and its key (PEM) for `a.test` with `serial`.
fn issue(dir: &Path, serial: &str) -> (String, String) {
    let (crt, key) = (
        dir.join(format!("{serial}.crt")),
        dir.join(format!("{serial}.key")),
    );
    self_signed(&crt, &key, "a.test", Some(serial), &[]);
    (
        std::fs::read_to_string(crt).expect("certificate"),
        std::fs::read_to_string(key).expect("key"),
    )
}

fn tls_secret(name: &str, (crt, key): &(String, String)) -> Secret {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": name},
        "stringData": {"tls.crt": crt, "tls.key": key}
    }))
    .expect("secret")
}

/// `openssl s_client` to the Service's TLS port with SNI `a.test`; `hold`: the connection
/// stays open after stdin ends.
fn s_client(port: u16, hold: bool) -> Child {
    Command::new("openssl")
        .args(["s_client", "-connect", &format!("{VIP}:{port}")])
        .args(["-servername", "a.test"])
        .args(hold.then_some("-ign_eof"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("run openssl s_client")
}

/// One handshake: the serial of the certificate the proxy presented.
async fn serial_seen(port: u16) -> String {
    let mut child = s_client(port, false);
    drop(child.stdin.take());
    let mut out = String::new();
    let mut stdout = child.stdout.take().expect("stdout");
    tokio::time::timeout(Duration::from_secs(20), stdout.read_to_string(&mut out))
        .await
        .expect("s_client ends within 20 s")
        .expect("read s_client");
    let _ = tokio::time::timeout(Duration::from_secs(20), child.wait()).await;
    let pem: String = out
        .split_inclusive('\n')
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .take_while(|l| !l.starts_with("-----END CERTIFICATE"))
        .chain(std::iter::once("-----END CERTIFICATE-----\n"))
        .collect();
    let mut x509 = Command::new("openssl")
        .args(["x509", "-noout", "-serial"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run openssl x509");
    x509.stdin
        .take()
        .expect("stdin")
        .write_all(pem.as_bytes())
        .await
        .expect("write pem");
    let serial = x509.wait_with_output().await.expect("x509");
    String::from_utf8_lossy(&serial.stdout).trim().to_owned()
}

/// A backend that answers each line with `echo: <line>`.
async fn echo_backend() -> SocketAddr {
    let listener = TcpListener::bind(SocketAddr::new(IpAddr::V4(POD_IP), 0))
        .await
        .expect("bind backend");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if write
                        .write_all(format!("echo: {line}\n").as_bytes())
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_certificate_is_served_and_rotated_and_status_says_kube_proxy_intercepts() {
    let ns = TestNamespace::create("spkpx").await;
    let node = format!("{}-n", ns.name);
    let certs = tempfile::tempdir().expect("tempdir");
    let (first, second) = (issue(certs.path(), "11"), issue(certs.path(), "22"));
    let backend = echo_backend().await;
    let router_port = free_port(ROUTER_IP);
    let router = Speaker::try_new(SpeakerConfig {
        listen: Some(SocketAddr::new(ROUTER_IP, router_port)),
    })
    .expect("listen");
    let mut peer = PeerConfig::new(NODE_IP, 64501, 64500, Ipv4Addr::new(10, 0, 0, 1));
    peer.passive = true;
    router.add_peer(peer).await.expect("router peer");

    ns.set_config(&format!(
        "peers:\n- peer-address: {ROUTER_IP}\n  peer-asn: 64501\n  my-asn: 64500\n  \
         peer-port: {router_port}\n  source-address: {NODE_IP}\n\
         address-pools:\n- name: web\n  protocol: bgp\n  addresses: ['{VIP}/32']\n  \
         proxy: {{enabled: true}}\n"
    ))
    .await;
    let nodes: Api<Node> = Api::all(ns.client.clone());
    let node_object: Node = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": node}
    }))
    .expect("node");
    nodes
        .create(&PostParams::default(), &node_object)
        .await
        .expect("create Node");
    let secrets: Api<Secret> = Api::namespaced(ns.client.clone(), &ns.name);
    secrets
        .create(&PostParams::default(), &tls_secret("web-tls", &first))
        .await
        .expect("create Secret");
    let tls_port = free_port(VIP.parse().expect("vip"));
    let service = serde_json::json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "annotations": {"herald.dev/tls-secret": "web-tls"}},
        "spec": {"type": "LoadBalancer", "ports": [
            {"name": "https", "port": tls_port, "targetPort": backend.port(), "protocol": "TCP"}
        ]}
    });
    ns.services()
        .create(
            &PostParams::default(),
            &serde_json::from_value(service).expect("service"),
        )
        .await
        .expect("create Service");
    let status = serde_json::json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": ns.name},
        "status": {"loadBalancer": {"ingress": [{"ip": VIP}]}}
    });
    ns.services()
        .patch_status(
            "web",
            &PatchParams::apply("herald-test-status"),
            &Patch::Apply(&status),
        )
        .await
        .expect("status");
    let slice: EndpointSlice = serde_json::from_value(serde_json::json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "web-1", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "ports": [{"name": "https", "port": backend.port(), "protocol": "TCP"}],
        "endpoints": [{"addresses": [POD_IP.to_string()], "nodeName": node,
                       "conditions": {"ready": true, "serving": true, "terminating": false}}]
    }))
    .expect("slice");
    ns.create_endpoint_slice(&slice).await;

    let kubeconfig = testenv().kubeconfig.display().to_string();
    let mut speaker = Running::start(&[
        "--kubeconfig",
        &kubeconfig,
        "--namespace",
        &ns.name,
        "--config-namespace",
        &ns.name,
        "--node-name",
        &node,
    ]);
    speaker.wait_ready().await;
    wait_router(&router, "the proxied address at the router", |s| {
        s.state == SessionState::Established && s.prefixes_received == 1
    })
    .await;

    // 1.20 has no ipMode: /status says kube-proxy would take the traffic first.
    let status = speaker.status().await;
    let problems = status["proxy"]["problems"].to_string();
    assert!(
        problems.contains("has no status.loadBalancer.ingress[].ipMode"),
        "{problems}"
    );
    assert_eq!(
        status["proxy"]["certificates"][0]["serial"], "11",
        "{status}"
    );

    // The Secret's certificate, and a connection held across the rotation.
    assert_eq!(serial_seen(tls_port).await, "serial=11");
    let mut held = s_client(tls_port, true);
    let mut held_in = held.stdin.take().expect("stdin");
    let mut held_out = BufReader::new(held.stdout.take().expect("stdout")).lines();
    let mut echo = async |text: &str| {
        held_in
            .write_all(format!("{text}\n").as_bytes())
            .await
            .expect("write to s_client");
        let wanted = format!("echo: {text}");
        tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(line) = held_out.next_line().await.expect("read s_client") {
                if line == wanted {
                    return;
                }
            }
            panic!("s_client ended before {wanted}");
        })
        .await
        .unwrap_or_else(|_| panic!("no {wanted}"));
    };
    echo("before").await;

    secrets
        .replace(
            "web-tls",
            &PostParams::default(),
            &tls_secret("web-tls", &second),
        )
        .await
        .expect("replace Secret");
    eventually("new handshakes get the new certificate", || async {
        (serial_seen(tls_port).await == "serial=22").then_some(())
    })
    .await;
    echo("after the rotation").await;
    assert_eq!(
        speaker.status().await["proxy"]["certificates"][0]["serial"],
        "22"
    );

    // The Secret deleted: reported, and the last good certificate stays in use (as a
    // refused bundle would leave it), so the address stays announced.
    secrets
        .delete("web-tls", &DeleteParams::default())
        .await
        .expect("delete Secret");
    eventually("/status reports the missing Secret", || async {
        let status = speaker.status().await;
        status["proxy"]["problems"]
            .to_string()
            .contains("web-tls")
            .then_some(())
    })
    .await;
    assert_eq!(serial_seen(tls_port).await, "serial=22");
    assert_eq!(router_stats(&router).await.prefixes_received, 1);
    echo("after the deletion").await;

    drop(held);
    let exit = speaker.terminate();
    assert_eq!(exit.code(), Some(0), "{}", speaker.log());
    router.shutdown().await;
    let _ = nodes.delete(&node, &DeleteParams::default()).await;
}
