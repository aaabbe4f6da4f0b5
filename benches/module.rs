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
}

fn version_sorting(c: &mut Criterion) {
    let mut versions = Vec::new();
    for major in 0..5 {
        for minor in 0..20 {
            for patch in 0..5 {
                versions.push(format!("v{major}.{minor}.{patch}"));
            }
        }
    }
    versions.reverse();
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
