//! `registries.conf` as containers/image reads it, for the one thing hoist takes from
//! it: which registries are insecure (plain HTTP, or HTTPS with an unverified
//! certificate). Both formats are read: v2 (`[[registry]] location = "HOST[:PORT][/NS]"
//! insecure = true`, optionally `prefix`, which may start with `*.`) and v1
//! (`[registries.insecure] registries = ["HOST", …]`). Other settings are ignored.
//!
//! As in containers/image, the entry whose prefix is the longest match of the
//! reference (`HOST[:PORT]/REPO`, on a path boundary) decides; the default file's
//! drop-ins (`registries.conf.d/*.conf`) count after it.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{Options, RegistryError, DEFAULT_REGISTRIES_CONF};

#[derive(Debug, Default, Deserialize)]
struct File {
    #[serde(default)]
    registry: Vec<Entry>,
    #[serde(default)]
    registries: Option<V1>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    #[serde(default)]
    location: String,
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    insecure: bool,
}

#[derive(Debug, Deserialize)]
struct V1 {
    #[serde(default)]
    insecure: Option<V1List>,
}

#[derive(Debug, Deserialize)]
struct V1List {
    #[serde(default)]
    registries: Vec<String>,
}

/// The registries.conf entries that matter to hoist.
#[derive(Debug, Default)]
pub struct RegistriesConf {
    /// (prefix, insecure)
    entries: Vec<(String, bool)>,
}

impl RegistriesConf {
    /// Reads `path`, or without one the default file and its drop-ins
    /// (`registries.conf.d/*.conf`, in name order, later entries winning ties). A
    /// missing default file is an empty configuration, a missing file named by the user
    /// an error.
    pub fn load(path: Option<&Path>) -> Result<RegistriesConf, RegistryError> {
        match path {
            Some(p) => Self::read(p, true),
            None => {
                let main = PathBuf::from(DEFAULT_REGISTRIES_CONF);
                Self::load_default(&main, &main.with_extension("conf.d"))
            }
        }
    }

    fn load_default(main: &Path, dropins: &Path) -> Result<RegistriesConf, RegistryError> {
        let mut conf = Self::read(main, false)?;
        let mut files: Vec<PathBuf> = match std::fs::read_dir(dropins) {
            Ok(rd) => rd
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "conf"))
                .collect(),
            Err(_) => Vec::new(),
        };
        files.sort();
        for f in files {
            conf.entries.extend(Self::read(&f, true)?.entries);
        }
        Ok(conf)
    }

    fn read(path: &Path, required: bool) -> Result<RegistriesConf, RegistryError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                Ok(RegistriesConf::default())
            }
            Err(source) => Err(RegistryError::ReadFile {
                path: path.into(),
                source,
            }),
        }
    }

    pub fn parse(text: &str, path: &Path) -> Result<RegistriesConf, RegistryError> {
        let f: File = toml::from_str(text).map_err(|e| RegistryError::Parse {
            path: path.into(),
            reason: e.message().to_owned(),
        })?;
        let mut entries = Vec::new();
        for e in f.registry {
            let prefix = e.prefix.unwrap_or(e.location);
            if !prefix.is_empty() {
                entries.push((prefix, e.insecure));
            }
        }
        if let Some(list) = f.registries.and_then(|r| r.insecure) {
            entries.extend(list.registries.into_iter().map(|r| (r, true)));
        }
        Ok(RegistriesConf { entries })
    }

    /// Whether `repository` (`HOST[:PORT]/PATH`) is insecure by this file.
    pub fn insecure(&self, repository: &str) -> bool {
        self.entries
            .iter()
            .filter_map(|(prefix, insecure)| match_len(prefix, repository).map(|l| (l, insecure)))
            .max_by_key(|(l, _)| *l)
            .is_some_and(|(_, insecure)| *insecure)
    }
}

/// How long a match `prefix` is for `repository`, if it matches.
fn match_len(prefix: &str, repository: &str) -> Option<usize> {
    if let Some(suffix) = prefix.strip_prefix("*.") {
        // A wildcard names hosts only: `*.example.com` matches `a.example.com[/…]`.
        let host = repository.split('/').next().unwrap_or_default();
        let host = host.split(':').next().unwrap_or_default();
        return host
            .strip_suffix(suffix)
            .is_some_and(|h| h.ends_with('.'))
            .then_some(prefix.len());
    }
    let rest = repository.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/') || rest.starts_with(':') || rest.starts_with('@'))
        .then_some(prefix.len())
}

/// Whether `repository` may be reached insecurely by the flags or registries.conf.
pub fn is_insecure(opts: &Options, host: &str, repository: &str) -> Result<bool, RegistryError> {
    if opts.insecure.iter().any(|h| h == host) {
        return Ok(true);
    }
    Ok(RegistriesConf::load(opts.registries_conf.as_deref())?.insecure(repository))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(text: &str) -> RegistriesConf {
        RegistriesConf::parse(text, Path::new("t.conf")).unwrap()
    }

    #[test]
    fn v2_longest_prefix_wins() {
        let c = conf(
            r#"
unqualified-search-registries = ["docker.io"]
[[registry]]
location = "reg.example:5000"
insecure = true
[[registry]]
location = "reg.example:5000/secure"
insecure = false
[[registry]]
prefix = "*.lan"
location = "mirror.lan"
insecure = true
"#,
        );
        assert!(c.insecure("reg.example:5000/app"));
        assert!(!c.insecure("reg.example:5000/secure/app"));
        assert!(!c.insecure("reg.example:50000/app"));
        assert!(!c.insecure("reg.example/app"));
        assert!(c.insecure("box.lan:5000/app"));
        assert!(!c.insecure("lan/app"));
        assert!(!c.insecure("docker.io/library/busybox"));
    }

    #[test]
    fn v1_insecure_list() {
        let c = conf("[registries.insecure]\nregistries = ['127.0.0.1:5000']\n");
        assert!(c.insecure("127.0.0.1:5000/x"));
        assert!(!c.insecure("127.0.0.1:5001/x"));
    }

    #[test]
    fn drop_ins_follow_the_main_file_and_win_ties() {
        let tmp = tempfile::tempdir().unwrap();
        let main = tmp.path().join("registries.conf");
        let d = tmp.path().join("registries.conf.d");
        std::fs::create_dir(&d).unwrap();
        std::fs::write(&main, "[[registry]]\nlocation = \"a:1\"\ninsecure = true\n").unwrap();
        std::fs::write(
            d.join("10-b.conf"),
            "[[registry]]\nlocation = \"b:2\"\ninsecure = true\n",
        )
        .unwrap();
        std::fs::write(
            d.join("20-a.conf"),
            "[[registry]]\nlocation = \"a:1\"\ninsecure = false\n",
        )
        .unwrap();
        std::fs::write(d.join("ignored.txt"), "not toml [").unwrap();
        let c = RegistriesConf::load_default(&main, &d).unwrap();
        assert!(!c.insecure("a:1/x"));
        assert!(c.insecure("b:2/x"));
        // No main file, no drop-in dir: nothing is insecure.
        let none = RegistriesConf::load_default(&tmp.path().join("no"), &tmp.path().join("no.d"));
        assert!(!none.unwrap().insecure("a:1/x"));
        // The host's own files parse (podman's Debian package ships them).
        RegistriesConf::load(None).unwrap();
    }

    #[test]
    fn bad_file_is_an_error_naming_it() {
        let e = RegistriesConf::parse("[[registry]\n", Path::new("/x/r.conf")).unwrap_err();
        assert!(e.to_string().starts_with("parse `/x/r.conf`"), "{e}");
        let e = RegistriesConf::load(Some(Path::new("/nonexistent/r.conf"))).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/r.conf"), "{e}");
    }
}
