//! End to end with the real `go` command: a throwaway main module that needs
//! fixture modules (a capitalised path, a /v2 module, a +incompatible
//! version, a module without go.mod) builds through modvault, then builds
//! again from a clean module cache with the fixture upstream stopped.

mod support;

use std::path::Path;
use std::process::Command;

use support::{start_proxy, test_config, Fixture, Module};

fn go_available() -> bool {
    Command::new("go")
        .arg("version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn fixture_modules() -> Vec<Module> {
    vec![
        Module::new("example.com/Upper/Lib", "v1.0.0")
            .file("lib.go", "package lib\n\nfunc Name() string { return \"upper\" }\n"),
        Module::new("example.com/second/v2", "v2.1.0")
            .file("second.go", "package second\n\nfunc Name() string { return \"v2\" }\n"),
        Module::new("example.com/incompat", "v2.0.0+incompatible")
            .without_go_mod()
            .file(
                "incompat.go",
                "package incompat\n\nfunc Name() string { return \"incompatible\" }\n",
            ),
        Module::new("example.com/nomod", "v1.0.0")
            .without_go_mod()
            .file("nomod.go", "package nomod\n\nfunc Name() string { return \"nomod\" }\n"),
    ]
}

const MAIN_GO: &str = r#"package main

import (
	"fmt"

	lib "example.com/Upper/Lib"
	"example.com/incompat"
	"example.com/nomod"
	second "example.com/second/v2"
)

func main() {
	fmt.Println(lib.Name(), second.Name(), incompat.Name(), nomod.Name())
}
"#;

const GO_MOD: &str = "module example.com/app

go 1.21

require (
	example.com/Upper/Lib v1.0.0
	example.com/incompat v2.0.0+incompatible
	example.com/nomod v1.0.0
	example.com/second/v2 v2.1.0
)
";

fn clean_module_cache(home: &Path, proxy: &str) {
    let output = support::go(home, home, proxy, "off", "-mod=mod", &["clean", "-modcache"]);
    assert!(
        output.status.success(),
        "go clean -modcache: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!home.join("modcache").join("cache").exists());
}

#[tokio::test]
async fn go_build_succeeds_through_modvault_and_offline() {
    if !go_available() {
        panic!("the go command is required for this test and was not found on PATH");
    }
    let mut fixture = Fixture::start().await;
    for module in fixture_modules() {
        fixture.add(&module);
    }
    let data = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(data.path(), &fixture.base)).await;
    let work = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("go.mod"), GO_MOD).unwrap();
    std::fs::write(work.path().join("main.go"), MAIN_GO).unwrap();

    let (dir, home_dir, base) = (work.path().to_path_buf(), home.path().to_path_buf(), proxy.base.clone());
    let output =
        tokio::task::spawn_blocking(move || support::go(&dir, &home_dir, &base, "off", "-mod=mod", &["run", "."]))
            .await
            .unwrap();
    assert!(
        output.status.success(),
        "go run failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), "upper v2 incompatible nomod\n");
    assert_eq!(fixture.count("example.com/!upper/!lib/@v/v1.0.0.zip"), 1);
    assert_eq!(fixture.count("example.com/incompat/@v/v2.0.0+incompatible.zip"), 1);
    let go_sum = std::fs::read_to_string(work.path().join("go.sum")).unwrap();
    assert_eq!(go_sum.lines().count(), 8, "two go.sum lines per module: {go_sum}");

    fixture.stop();
    let (dir, home_dir, base) = (work.path().to_path_buf(), home.path().to_path_buf(), proxy.base.clone());
    let output = tokio::task::spawn_blocking(move || {
        clean_module_cache(&home_dir, &base);
        support::go(&dir, &home_dir, &base, "off", "-mod=mod", &["run", "."])
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "offline go run failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), "upper v2 incompatible nomod\n");
}

#[tokio::test]
async fn go_get_probes_prefixes_and_finds_module() {
    let fixture = Fixture::start().await;
    let module =
        Module::new("example.com/deep/mod", "v1.3.0").file("pkg/inner/inner.go", "package inner\n\nconst Value = 42\n");
    fixture.add(&module);
    fixture.put("example.com/deep/mod/@latest", module.info());
    let data = tempfile::tempdir().unwrap();
    let proxy = start_proxy(test_config(data.path(), &fixture.base)).await;
    let work = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("go.mod"), "module example.com/app\n\ngo 1.21\n").unwrap();

    let (dir, home_dir, base) = (work.path().to_path_buf(), home.path().to_path_buf(), proxy.base.clone());
    let output = tokio::task::spawn_blocking(move || {
        support::go(
            &dir,
            &home_dir,
            &base,
            "off",
            "-mod=mod",
            &["get", "example.com/deep/mod/pkg/inner"],
        )
    })
    .await
    .unwrap();

    assert!(
        output.status.success(),
        "go get failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let go_mod = std::fs::read_to_string(work.path().join("go.mod")).unwrap();
    assert!(go_mod.contains("example.com/deep/mod v1.3.0"), "{go_mod}");
    assert!(
        fixture.count("example.com/deep/mod/pkg/inner/@v/list")
            + fixture.count("example.com/deep/mod/pkg/inner/@latest")
            >= 1
    );
}
