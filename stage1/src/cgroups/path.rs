//! cgroupsPath to a hierarchy-relative path: absolute, relative to the runtime's own
//! cgroup, or systemd's `slice:prefix:name` mapped onto cgroupfs (no systemd here).

use super::CgroupError;

/// The hierarchy-relative path for a container. `own` is the runtime's own cgroup in
/// that hierarchy, the base of relative paths.
pub fn resolve(
    cgroups_path: Option<&str>,
    id: &str,
    systemd: bool,
    own: &str,
) -> Result<String, CgroupError> {
    let p = cgroups_path.unwrap_or("");
    if systemd {
        return systemd_path(p, id);
    }
    if p.is_empty() {
        return Ok(join(own, id));
    }
    if p.split('/').any(|c| c == "..") {
        return Err(CgroupError::InvalidPath(p.to_string()));
    }
    if p.starts_with('/') {
        Ok(join("/", p))
    } else {
        Ok(join(own, p))
    }
}

fn join(base: &str, rel: &str) -> String {
    let mut out = String::from("/");
    for c in base
        .split('/')
        .chain(rel.split('/'))
        .filter(|c| !c.is_empty() && *c != ".")
    {
        if !out.ends_with('/') {
            out.push('/');
        }
        out.push_str(c);
    }
    out
}

/// `slice:prefix:name` → `/<expanded slice>/<prefix>-<name>.scope`, as systemd would
/// lay it out (runc's systemd driver on a host without systemd cannot do better).
fn systemd_path(p: &str, id: &str) -> Result<String, CgroupError> {
    let bad = || CgroupError::InvalidPath(p.to_string());
    let (slice, prefix, name) = if p.is_empty() {
        ("", "hoist", id)
    } else {
        let parts: Vec<&str> = p.split(':').collect();
        if parts.len() != 3 {
            return Err(bad());
        }
        (parts[0], parts[1], parts[2])
    };
    if [slice, prefix, name].iter().any(|s| s.contains('/')) {
        return Err(bad());
    }
    let slice = if slice.is_empty() {
        "system.slice"
    } else {
        slice
    };
    let mut out = expand_slice(slice).ok_or_else(bad)?;
    let unit = if name.ends_with(".slice") {
        name.to_string()
    } else if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    out.push('/');
    out.push_str(&unit);
    Ok(out)
}

/// `a-b-c.slice` → `/a.slice/a-b.slice/a-b-c.slice`; `-.slice` is the root.
fn expand_slice(slice: &str) -> Option<String> {
    let base = slice.strip_suffix(".slice")?;
    if base == "-" {
        return Some(String::new());
    }
    if base.is_empty() || base.starts_with('-') || base.ends_with('-') || base.contains("--") {
        return None;
    }
    let mut out = String::new();
    let mut acc = String::new();
    for part in base.split('-') {
        if !acc.is_empty() {
            acc.push('-');
        }
        acc.push_str(part);
        out.push('/');
        out.push_str(&acc);
        out.push_str(".slice");
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths() {
        assert_eq!(resolve(Some("/a/b"), "id", false, "/own").unwrap(), "/a/b");
        assert_eq!(
            resolve(Some("a/b"), "id", false, "/own").unwrap(),
            "/own/a/b"
        );
        assert_eq!(resolve(None, "id", false, "/").unwrap(), "/id");
        assert!(resolve(Some("/a/../b"), "id", false, "/").is_err());
    }

    #[test]
    fn systemd_paths() {
        assert_eq!(
            resolve(Some("system.slice:docker:abc"), "id", true, "/").unwrap(),
            "/system.slice/docker-abc.scope"
        );
        assert_eq!(
            resolve(Some("a-b.slice:p:n"), "id", true, "/").unwrap(),
            "/a.slice/a-b.slice/p-n.scope"
        );
        assert_eq!(
            resolve(Some(":p:n"), "id", true, "/").unwrap(),
            "/system.slice/p-n.scope"
        );
        assert!(resolve(Some("bad"), "id", true, "/").is_err());
        assert!(resolve(Some("x.slice:a/b:n"), "id", true, "/").is_err());
    }
}
