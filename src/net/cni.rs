//! Calling CNI plugins (spec 1.0): each plugin of a conflist is an executable run with
//! `CNI_COMMAND`, `CNI_CONTAINERID`, `CNI_NETNS`, `CNI_IFNAME` and `CNI_PATH` in its
//! environment and its config (with `name`, `cniVersion`, `prevResult` and the
//! `runtimeConfig` of the capabilities it declares) on stdin. ADD chains the plugins
//! in order, DEL runs them in reverse with the cached result.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use super::{io_err, NetError};
use crate::pod::args::Port;

/// Where plugins are looked for unless `CNI_PATH` says otherwise.
const PLUGIN_DIRS: &str = "/usr/lib/cni:/opt/cni/bin";

/// The default network, written to the net dir when it is missing.
pub fn default_conflist() -> Value {
    json!({
        "cniVersion": "1.0.0",
        "name": "default",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "hoist0",
                "isGateway": true,
                "ipMasq": true,
                "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "ranges": [[{"subnet": "10.88.200.0/24", "gateway": "10.88.200.1"}]]
                }
            },
            {"type": "portmap", "capabilities": {"portMappings": true}},
            {"type": "firewall"}
        ]
    })
}

/// A network config read from the net dir.
#[derive(Clone, Debug)]
pub struct Network {
    pub name: String,
    pub conflist: Value,
}

/// Reads network `name` from `net_dir`, writing the default one first if it is asked
/// for and missing.
pub fn load(net_dir: &Path, name: &str) -> Result<Network, NetError> {
    let path = net_dir.join(format!("{name}.conflist"));
    if name == "default" && !path.exists() {
        std::fs::create_dir_all(net_dir)
            .map_err(io_err(format!("create `{}`", net_dir.display())))?;
        let text = serde_json::to_string_pretty(&default_conflist()).unwrap_or_default();
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text + "\n").map_err(io_err(format!("write `{}`", tmp.display())))?;
        std::fs::rename(&tmp, &path).map_err(io_err(format!("write `{}`", path.display())))?;
    }
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(NetError::NoNetwork {
                name: name.into(),
                path,
            })
        }
        Err(e) => return Err(io_err(format!("read `{}`", path.display()))(e)),
    };
    let bad = |reason: &str| NetError::BadConfig {
        path: path.clone(),
        reason: reason.into(),
    };
    let conflist: Value = serde_json::from_str(&text).map_err(|e| bad(&e.to_string()))?;
    if conflist["name"].as_str() != Some(name) {
        return Err(bad(&format!("its name is not `{name}`")));
    }
    let plugins = conflist["plugins"]
        .as_array()
        .ok_or_else(|| bad("no plugins list"))?;
    if plugins.is_empty()
        || plugins.iter().any(|p| {
            p["type"]
                .as_str()
                .is_none_or(|t| t.is_empty() || t.contains('/'))
        })
    {
        return Err(bad("every plugin needs a type"));
    }
    Ok(Network {
        name: name.into(),
        conflist,
    })
}

/// What ADD left, kept for DEL.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Attachment {
    pub network: String,
    pub ifname: String,
    pub container_id: String,
    pub netns: PathBuf,
    pub conflist: Value,
    pub result: Value,
}

impl Attachment {
    /// The pod's addresses on this network.
    pub fn ips(&self) -> Vec<IpAddr> {
        self.result["ips"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["address"].as_str())
            .filter_map(|a| a.split('/').next()?.parse().ok())
            .collect()
    }
}

fn plugin_dirs() -> String {
    std::env::var("CNI_PATH").unwrap_or_else(|_| PLUGIN_DIRS.to_owned())
}

fn find_plugin(kind: &str) -> Result<PathBuf, NetError> {
    let dirs = plugin_dirs();
    std::env::split_paths(&dirs)
        .map(|d| d.join(kind))
        .find(|p| p.is_file())
        .ok_or_else(|| NetError::NoPlugin {
            plugin: kind.into(),
            dirs: dirs.clone(),
        })
}

/// The stdin of one plugin call.
fn plugin_config(conflist: &Value, plugin: &Value, prev: Option<&Value>, ports: &[Port]) -> Value {
    let mut conf = plugin.clone();
    conf["name"] = conflist["name"].clone();
    conf["cniVersion"] = conflist["cniVersion"].clone();
    if let Some(p) = prev {
        conf["prevResult"] = p.clone();
    }
    if plugin["capabilities"]["portMappings"] == json!(true) && !ports.is_empty() {
        let maps: Vec<Value> = ports
            .iter()
            .map(|p| {
                let mut m = json!({"hostPort": p.host_port, "containerPort": p.pod_port, "protocol": p.protocol});
                if let Some(ip) = p.host_ip {
                    m["hostIP"] = json!(ip.to_string());
                }
                m
            })
            .collect();
        conf["runtimeConfig"] = json!({"portMappings": maps});
    }
    conf
}

fn call(
    command: &'static str,
    network: &str,
    plugin: &Value,
    stdin: &Value,
    container_id: &str,
    netns: &Path,
    ifname: &str,
) -> Result<Value, NetError> {
    let kind = plugin["type"].as_str().unwrap_or_default();
    let bin = find_plugin(kind)?;
    let fail = |message: String| NetError::Plugin {
        command,
        network: network.into(),
        plugin: kind.into(),
        message,
    };
    let mut cmd = Command::new(&bin);
    crate::sys::clean_signals_on_exec(&mut cmd);
    let mut child = cmd
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", container_id)
        .env("CNI_NETNS", netns)
        .env("CNI_IFNAME", ifname)
        .env("CNI_PATH", plugin_dirs())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io_err(format!("run `{}`", bin.display())))?;
    if let Some(mut i) = child.stdin.take() {
        i.write_all(stdin.to_string().as_bytes())
            .map_err(io_err(format!("write to `{}`", bin.display())))?;
    }
    let out = child
        .wait_with_output()
        .map_err(io_err(format!("run `{}`", bin.display())))?;
    let parsed: Option<Value> = serde_json::from_slice(&out.stdout).ok();
    if !out.status.success() {
        let msg = parsed
            .as_ref()
            .and_then(|v| {
                let m = v["msg"].as_str()?;
                Some(match v["details"].as_str() {
                    Some(d) if !d.is_empty() => format!("{m}: {d}"),
                    _ => m.to_owned(),
                })
            })
            .unwrap_or_else(|| String::from_utf8_lossy(&out.stderr).trim().to_owned());
        return Err(fail(msg));
    }
    Ok(parsed.unwrap_or(Value::Null))
}

/// ADD: attaches `netns` to `net` as `ifname`. On a failing plugin the ones before it
/// are undone (DEL) before the error is returned.
pub fn add(
    net: &Network,
    container_id: &str,
    netns: &Path,
    ifname: &str,
    ports: &[Port],
) -> Result<Attachment, NetError> {
    let plugins = net.conflist["plugins"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut prev: Option<Value> = None;
    for (i, plugin) in plugins.iter().enumerate() {
        let stdin = plugin_config(&net.conflist, plugin, prev.as_ref(), ports);
        match call(
            "ADD",
            &net.name,
            plugin,
            &stdin,
            container_id,
            netns,
            ifname,
        ) {
            Ok(r) => prev = Some(r),
            Err(e) => {
                let partial = Attachment {
                    network: net.name.clone(),
                    ifname: ifname.into(),
                    container_id: container_id.into(),
                    netns: netns.into(),
                    conflist: json!({"name": net.conflist["name"], "cniVersion": net.conflist["cniVersion"], "plugins": plugins[..=i]}),
                    result: prev.unwrap_or(Value::Null),
                };
                let _ = del(&partial, ports);
                return Err(e);
            }
        }
    }
    Ok(Attachment {
        network: net.name.clone(),
        ifname: ifname.into(),
        container_id: container_id.into(),
        netns: netns.into(),
        conflist: net.conflist.clone(),
        result: prev.unwrap_or(Value::Null),
    })
}

/// DEL: detaches, plugins in reverse order; every plugin runs even if one fails, and
/// the first failure is returned.
pub fn del(att: &Attachment, ports: &[Port]) -> Result<(), NetError> {
    let plugins = att.conflist["plugins"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let prev = (!att.result.is_null()).then_some(&att.result);
    let mut first = None;
    for plugin in plugins.iter().rev() {
        let stdin = plugin_config(&att.conflist, plugin, prev, ports);
        if let Err(e) = call(
            "DEL",
            &att.network,
            plugin,
            &stdin,
            &att.container_id,
            &att.netns,
            &att.ifname,
        ) {
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_and_writes_default() {
        let d = tempfile::tempdir().unwrap();
        let n = load(d.path(), "default").unwrap();
        assert_eq!(n.conflist["plugins"][0]["type"], "bridge");
        assert!(d.path().join("default.conflist").exists());
        assert!(matches!(
            load(d.path(), "other"),
            Err(NetError::NoNetwork { .. })
        ));
        std::fs::write(
            d.path().join("bad.conflist"),
            r#"{"name":"bad","plugins":[{}]}"#,
        )
        .unwrap();
        assert!(matches!(
            load(d.path(), "bad"),
            Err(NetError::BadConfig { .. })
        ));
    }

    #[test]
    fn plugin_configs() {
        let list = default_conflist();
        let ports = [Port {
            host_ip: Some("127.0.0.1".parse().unwrap()),
            host_port: 8080,
            pod_port: 80,
            protocol: "tcp".into(),
        }];
        let c = plugin_config(
            &list,
            &list["plugins"][1],
            Some(&json!({"ips": []})),
            &ports,
        );
        assert_eq!(c["name"], "default");
        assert_eq!(c["runtimeConfig"]["portMappings"][0]["hostIP"], "127.0.0.1");
        assert!(c["prevResult"].is_object());
        let c = plugin_config(&list, &list["plugins"][0], None, &ports);
        assert!(c.get("runtimeConfig").is_none() && c.get("prevResult").is_none());
        let a = Attachment {
            network: "n".into(),
            ifname: "eth0".into(),
            container_id: "c".into(),
            netns: "/x".into(),
            conflist: list,
            result: json!({"ips": [{"address": "10.88.200.5/24"}]}),
        };
        assert_eq!(a.ips(), vec!["10.88.200.5".parse::<IpAddr>().unwrap()]);
    }
}
