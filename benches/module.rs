//! Micro benchmarks of request path work that every hit pays for: decoding
//! and validating a path, and sorting a long version list in Go's order.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use modvault::module::{parse_request_path, sort_versions};

fn path_parsing(c: &mut Criterion) {
    c.bench_function("parse zip path with capitals", |b| {
        b.iter(|| {
            parse_request_path(black_box(
                "github.com/!azure/azure-sdk-for-go/sdk/v2/@v/v2.1.0-!r!c1.zip",
            ))
        })
    });
    c.bench_function("parse list path", |b| {
        b.iter(|| parse_request_path(black_box("golang.org/x/net/@v/list")))
    });
    c.bench_function("parse mod path with gopkg.in major", |b| {
        b.iter(|| parse_request_path(black_box("gopkg.in/yaml.v3/@v/v3.0.1.mod")))
    });
    c.bench_function("reject path with invalid element", |b| {
        b.iter(|| parse_request_path(black_box("github.com/acme/../secret/@v/v1.0.0.info")))
    });
}

/// Builds 500 versions as a long-lived module lists them: releases, release
/// candidates and `+incompatible` majors, in shuffled order.
fn version_list() -> Vec<String> {
    let mut versions = Vec::new();
    for major in 0..5 {
        for minor in 0..20 {
            for patch in 0..5 {
                let version = match (major, patch) {
                    (3.., 0) => format!("v{major}.{minor}.0+incompatible"),
                    (_, 4) => format!("v{major}.{minor}.{patch}-rc.{minor}"),
                    _ => format!("v{major}.{minor}.{patch}"),
                };
                versions.push(version);
            }
        }
    }
    // A fixed stride through the list shuffles it the same way on every run.
    (0..versions.len())
        .map(|i| versions[(i * 211) % versions.len()].clone())
        .collect()
}

fn version_sorting(c: &mut Criterion) {
    let versions = version_list();
    c.bench_function("sort 500 versions", |b| {
        b.iter_batched(
            || versions.clone(),
            |mut list| sort_versions(&mut list),
            criterion::BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, path_parsing, version_sorting);
criterion_main!(benches);
