//! CNI networks: a bridge with NAT and host-local IPAM, `--port` from 127.0.0.1 to a
//! server in the pod, the pod's own address reachable from the host, and DEL on stop
//! leaving no veth, address, iptables rule or IPAM reservation.

use crate::common::run::expect_ok;
use crate::support::{free_port, http_get, links, Env};

stage1_tests!(port_forward_and_cleanup);

fn port_forward_and_cleanup(stage1: &str) {
    let mut env = Env::new("net", stage1);
    let n = match stage1 {
        "hoist" => 64,
        "runc" => 65,
        _ => 66,
    };
    let net = env.network(&format!("hoist-test-net{n}"), n);
    let www = env.dir().join("www");
    std::fs::create_dir(&www).unwrap();
    std::fs::write(www.join("index.html"), "served from a pod\n").unwrap();
    let port = free_port();
    let (spec, vol) = (
        format!("127.0.0.1:{port}:80"),
        format!("{}:/www:ro", www.display()),
    );
    let uuid = env.detach(&[
        "--net", &net, "--port", &spec, "--volume", &vol, "busybox", "--exec", "httpd", "--", "-f",
        "-p", "80", "-h", "/www",
    ]);
    let st = env.status(&uuid);
    let ip = st["networks"][0]["ips"][0]
        .as_str()
        .expect("pod ip")
        .to_owned();
    assert!(ip.starts_with(&format!("10.88.{n}.")), "{st}");
    assert_eq!(
        http_get(&format!("http://127.0.0.1:{port}/index.html")).as_deref(),
        Some("served from a pod\n"),
        "the host port forwards into the pod"
    );
    assert_eq!(
        http_get(&format!("http://{ip}/index.html")).as_deref(),
        Some("served from a pod\n"),
        "the pod's address answers from the host"
    );
    let inside = env.hoist(&[
        "enter",
        &uuid,
        "--",
        "sh",
        "-c",
        "cat /etc/hosts; ip -o -4 addr show eth0",
    ]);
    expect_ok(&inside);
    assert!(inside.stdout.contains(&ip), "{inside}");
    expect_ok(&env.hoist(&["stop", "--force", &uuid]));
    env.assert_clean(&uuid, std::slice::from_ref(&ip));
    let bridge = format!("hoist-t{n}");
    let ports: Vec<String> = links()
        .lines()
        .filter(|l| l.contains(&format!("master {bridge} ")))
        .map(str::to_owned)
        .collect();
    assert!(ports.is_empty(), "no veth left on {bridge}: {ports:?}");
    assert!(
        !std::path::Path::new(&format!("/var/lib/cni/networks/{net}/{ip}")).exists(),
        "IP released"
    );
}

/// `--net default` as a user gets it: the default conflist written on first use (bridge
/// hoist0, 10.88.200.0/24, NAT, portmap, firewall), serving the httpd image of
/// images/httpd on a host port.
#[test]
fn default_network_serves_the_httpd_image() {
    let mut env = Env::new("default-net", "hoist");
    env.fetch_httpd();
    env.owns_bridge("hoist0");
    let port = free_port();
    let spec = format!("127.0.0.1:{port}:80");
    let uuid = env.detach(&["--net", "default", "--port", &spec, "httpd"]);
    assert!(
        env.net_dir.path().join("default.conflist").exists(),
        "default written on first use"
    );
    let st = env.status(&uuid);
    let ip = st["networks"][0]["ips"][0]
        .as_str()
        .expect("pod ip")
        .to_owned();
    assert!(ip.starts_with("10.88.200."), "{st}");
    let page = http_get(&format!("http://127.0.0.1:{port}/")).unwrap_or_default();
    assert!(
        page.contains("hello from hoist httpd"),
        "the image's page: {page:?}"
    );
    expect_ok(&env.hoist(&["stop", "--force", &uuid]));
    env.assert_clean(&uuid, std::slice::from_ref(&ip));
}
