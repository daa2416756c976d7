//! Checks of `deploy/` that `cargo xtask test` runs as unit tests (its
//! "unit tests" step): every YAML document parses, the DaemonSet and the
//! systemd unit grant exactly the capabilities the binary uses (the list in
//! `tracer/src/sys/caps.rs`), the Dockerfile copies the `cargo xtask dist`
//! binary, and `systemd-analyze verify` accepts the unit. The tools they
//! need (python3-yaml, systemd) are installed by `cargo xtask test`'s
//! bootstrap; a missing one fails the test, never skips it.

#[cfg(test)]
mod tests {
    use std::{
        collections::BTreeSet,
        fs,
        path::{Path, PathBuf},
        process::Command,
    };

    use serde_json::Value;

    use crate::dist;

    fn deploy_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
    }

    /// Every `*.yaml` under deploy/, each file's documents as JSON (PyYAML,
    /// the system's: Debian's python3-yaml).
    fn yaml_documents() -> Vec<(PathBuf, Vec<Value>)> {
        let mut files = Vec::new();
        let mut dirs = vec![deploy_dir()];
        while let Some(dir) = dirs.pop() {
            for entry in fs::read_dir(&dir).unwrap() {
                let p = entry.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                    files.push(p);
                }
            }
        }
        files.sort();
        assert!(
            !files.is_empty(),
            "no YAML under {}",
            deploy_dir().display()
        );
        files
            .into_iter()
            .map(|f| {
                let out = Command::new("/usr/bin/python3")
                    .args([
                        "-c",
                        "import json, sys, yaml\n\
                         print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))",
                    ])
                    .arg(&f)
                    .output()
                    .expect("/usr/bin/python3 runs (apt install python3-yaml)");
                assert!(
                    out.status.success(),
                    "{} does not parse: {}",
                    f.display(),
                    String::from_utf8_lossy(&out.stderr)
                );
                let docs: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
                (f, docs)
            })
            .collect()
    }

    fn binary_capabilities() -> BTreeSet<String> {
        tracer::sys::REQUIRED_CAPABILITIES
            .iter()
            .map(|c| c.name.to_string())
            .collect()
    }

    fn kind<'a>(docs: &'a [(PathBuf, Vec<Value>)], kind: &str) -> Vec<&'a Value> {
        docs.iter()
            .flat_map(|(_, d)| d.iter())
            .filter(|d| d["kind"] == kind)
            .collect()
    }

    fn strings(v: &Value) -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn every_yaml_document_parses_and_has_a_kind() {
        for (file, docs) in yaml_documents() {
            assert!(!docs.is_empty(), "{}", file.display());
            for d in docs {
                assert!(
                    d["apiVersion"].is_string() && d["kind"].is_string(),
                    "{}: {d}",
                    file.display()
                );
                assert!(d["metadata"]["name"].is_string(), "{}: {d}", file.display());
            }
        }
    }

    #[test]
    fn the_daemonset_grants_exactly_what_the_binary_uses() {
        let docs = yaml_documents();
        let sets = kind(&docs, "DaemonSet");
        assert_eq!(sets.len(), 1);
        let spec = &sets[0]["spec"]["template"]["spec"];
        assert_eq!(spec["hostPID"], true);
        let containers = spec["containers"].as_array().unwrap();
        assert_eq!(containers.len(), 1);
        let c = &containers[0];
        let caps = &c["securityContext"]["capabilities"];
        assert_eq!(strings(&caps["drop"]), ["ALL"]);
        let add: Vec<String> = strings(&caps["add"]);
        let add_set: BTreeSet<String> = add.iter().cloned().collect();
        assert_eq!(add.len(), add_set.len(), "duplicates in {add:?}");
        assert_eq!(add_set, binary_capabilities());
        assert_ne!(c["securityContext"]["privileged"], true);
        // An explicit address: the default would bind localhost only.
        let args = strings(&c["args"]);
        let listen = args.iter().position(|a| a == "--listen").unwrap();
        assert_eq!(args[listen + 1], "0.0.0.0:9464");
        assert!(args.contains(&"--evidence-dir".to_string()));
        // Read-only host mounts of what the tracer reads; the evidence dir
        // on the host.
        let mounts = c["volumeMounts"].as_array().unwrap();
        let volumes = spec["volumes"].as_array().unwrap();
        let host_path = |mount: &str| {
            let m = mounts.iter().find(|m| m["mountPath"] == mount)?;
            let v = volumes.iter().find(|v| v["name"] == m["name"])?;
            Some((
                v["hostPath"]["path"].as_str()?.to_string(),
                m["readOnly"] == true,
            ))
        };
        for path in [
            "/sys",
            "/sys/kernel/btf",
            "/sys/kernel/tracing",
            "/sys/fs/cgroup",
        ] {
            assert_eq!(host_path(path), Some((path.to_string(), true)), "{path}");
        }
        let evidence = &args[args.iter().position(|a| a == "--evidence-dir").unwrap() + 1];
        assert_eq!(
            host_path(evidence).map(|(p, ro)| (p == *evidence, ro)),
            Some((true, false))
        );
        let annotations = &sets[0]["spec"]["template"]["metadata"]["annotations"];
        assert_eq!(annotations["prometheus.io/scrape"], "true");
        assert_eq!(annotations["prometheus.io/port"], "9464");
    }

    #[test]
    fn the_servicemonitor_finds_the_pods_through_the_service() {
        let docs = yaml_documents();
        let monitors = kind(&docs, "ServiceMonitor");
        assert_eq!(monitors.len(), 1);
        let m = monitors[0];
        assert_eq!(m["apiVersion"], "monitoring.coreos.com/v1");
        let services = kind(&docs, "Service");
        assert_eq!(services.len(), 1);
        let s = services[0];
        let port = &m["spec"]["endpoints"][0]["port"];
        assert!(
            s["spec"]["ports"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == *port),
            "endpoint port {port} is not a port of the Service"
        );
        for (k, v) in m["spec"]["selector"]["matchLabels"].as_object().unwrap() {
            assert_eq!(&s["metadata"]["labels"][k], v, "Service label {k}");
        }
        let set = kind(&docs, "DaemonSet")[0];
        for (k, v) in s["spec"]["selector"].as_object().unwrap() {
            assert_eq!(
                &set["spec"]["template"]["metadata"]["labels"][k], v,
                "pod label {k}"
            );
        }
        assert_eq!(s["metadata"]["namespace"], set["metadata"]["namespace"]);
    }

    fn unit_text() -> String {
        fs::read_to_string(deploy_dir().join("starvetrace.service")).unwrap()
    }

    /// The values of every `Key=` line (space-separated, lines joined).
    fn unit_values(text: &str, key: &str) -> Vec<String> {
        text.lines()
            .filter_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
            .flat_map(|v| v.split_whitespace().map(String::from))
            .collect()
    }

    #[test]
    fn the_systemd_unit_grants_exactly_what_the_binary_uses() {
        let text = unit_text();
        let want: BTreeSet<String> = binary_capabilities()
            .into_iter()
            .map(|c| format!("CAP_{c}"))
            .collect();
        for key in ["CapabilityBoundingSet", "AmbientCapabilities"] {
            let got: BTreeSet<String> = unit_values(&text, key).into_iter().collect();
            assert_eq!(got, want, "{key}");
        }
        assert_eq!(
            unit_values(&text, "ExecStart"),
            [
                "/usr/local/bin/starvetrace",
                "watch",
                "--listen",
                "127.0.0.1:9464",
                "--evidence-dir",
                "/var/lib/starvetrace/bundles"
            ]
        );
        for key in ["MemoryMax", "CPUQuota", "TasksMax", "ProtectSystem"] {
            assert_eq!(unit_values(&text, key).len(), 1, "{key}");
        }
        // It drops CAP_SYSLOG from the bounding set.
        assert!(unit_values(&text, "ProtectKernelLogs").is_empty());
    }

    /// `systemd-analyze verify` of the unit, with ExecStart pointed at a
    /// stub (the real binary is not installed here). It exits 0 even for
    /// unknown keys and bad values, so any output fails too.
    #[test]
    fn systemd_analyze_verifies_the_unit() {
        let dir = std::env::temp_dir().join(format!("xtask-unit-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let stub = dir.join("starvetrace");
        fs::write(&stub, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&stub, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let unit = dir.join("starvetrace.service");
        fs::write(
            &unit,
            unit_text().replace("/usr/local/bin/starvetrace", &stub.display().to_string()),
        )
        .unwrap();
        let out = Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(&unit)
            .output()
            .expect(
                "systemd-analyze runs (apt install systemd; cargo xtask test's bootstrap does)",
            );
        let _ = fs::remove_dir_all(&dir);
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success() && said.trim().is_empty(), "{said}");
    }

    #[test]
    fn the_dockerfile_copies_the_dist_binary() {
        let text = fs::read_to_string(deploy_dir().join("Dockerfile")).unwrap();
        let version = env!("CARGO_PKG_VERSION");
        assert!(
            text.contains(&format!("ARG VERSION={version}")),
            "the Dockerfile's default VERSION is the workspace's {version}"
        );
        let copy = text
            .lines()
            .find(|l| l.starts_with("COPY "))
            .expect("a COPY line");
        let src = copy.split_whitespace().nth(1).unwrap();
        assert_eq!(
            src.replace("${VERSION}", version),
            format!("target/dist/{}/starvetrace", dist::dir_name(version))
        );
        assert!(
            text.lines()
                .any(|l| l.starts_with("ENTRYPOINT [\"/usr/local/bin/starvetrace\"]"))
        );
    }
}
