//! BEP 51 `sample_infohashes` between core nodes in the simulator: a node samples what another
//! stores, and a sample from a node that does not answer ends empty-handed.

mod sim_support;

use sim_support::{LOOKUP_LIMIT, private, sim};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;
use tokengo_core::sim::{NetConfig, NodeHandle, Sim};
use tokengo_core::{Event, Id, Node, QueryId, Sample};

fn sampled(sim: &mut Sim<Node>, node: NodeHandle, query: QueryId) -> Option<Sample> {
    let find = |sim: &Sim<Node>| {
        sim.events(node).find_map(|(_, e)| match e {
            Event::Sampled {
                query: q, sample, ..
            } if *q == query => Some(sample.clone()),
            _ => None,
        })
    };
    sim.run_until(LOOKUP_LIMIT, |sim| find(sim).is_some());
    find(sim).expect("the sample finished")
}

#[test]
fn a_node_samples_the_info_hashes_another_stores() {
    let mut sim = sim(51, NetConfig::default());
    let store = sim.add_node(private());
    let announcer = sim.add_node(private());
    let sampler = sim.add_node(private());
    for node in [announcer, sampler] {
        sim.bootstrap(node, &[store]);
    }
    sim.run_for(Duration::from_secs(10));
    let keys: BTreeSet<Id> = (1..=30u8).map(|n| Id([n; 20])).collect();
    for key in &keys {
        let q = sim.announce(announcer, *key, Some(7000), false).unwrap();
        sim.wait(announcer, q, LOOKUP_LIMIT);
    }
    let held = sim.endpoint(store).unwrap().stats().stored_keys;
    assert!(held >= 25, "the store holds {held} of the 30 announces");
    let store_addr = sim.addr(store);
    let mut seen = BTreeSet::new();
    // Each answer carries at most 20 of the 30, from a random start: a few rounds see all.
    for _ in 0..20 {
        let q = sim
            .with(sampler, |n, now| {
                n.sample_infohashes(now, store_addr, Id([0; 20]))
            })
            .unwrap();
        let sample = sampled(&mut sim, sampler, q).expect("the store answers");
        assert_eq!(sample.num, held as u64);
        assert_eq!(sample.interval, Duration::from_secs(6 * 3600));
        assert_eq!(sample.samples.len(), 20);
        assert!(!sample.nodes.is_empty(), "the answer names nodes");
        seen.extend(sample.samples);
    }
    assert_eq!(seen.len(), held, "every stored key came up in some sample");
    assert!(seen.is_subset(&keys));

    // A node that stores nothing answers an empty sample; an address nobody serves, none.
    let announcer_addr = sim.addr(announcer);
    let q = sim
        .with(sampler, |n, now| {
            n.sample_infohashes(now, announcer_addr, Id([0; 20]))
        })
        .unwrap();
    let empty = sampled(&mut sim, sampler, q).expect("an answer");
    assert_eq!((empty.num, empty.samples.len()), (0, 0));
    let nobody: SocketAddr = "10.9.9.9:6881".parse().unwrap();
    let q = sim
        .with(sampler, |n, now| {
            n.sample_infohashes(now, nobody, Id([0; 20]))
        })
        .unwrap();
    assert_eq!(sampled(&mut sim, sampler, q), None);
}
