//! The dependency graph of releases: `needs` within an app, `depends_on`
//! between apps; its cycles, refused with their members, and an order
//! that deploys each release after what it needs.

use anyhow::{Result, bail};

use stagecraft_core::repo::Repo;
use stagecraft_core::suggest;

/// `depends_on` names apps of the cluster, and forms no cycle.
pub fn check_app_cycles(repo: &Repo, cluster: &str, all: &[String]) -> Result<()> {
    let mut edges = Vec::new();
    for name in all {
        let file = repo.app(cluster, name)?;
        let mut deps = Vec::new();
        for dep in &file.value.depends_on {
            match all.iter().position(|a| a == dep.get_ref()) {
                Some(j) => deps.push(j),
                None => {
                    return Err(file.error_at(
                        &dep.span(),
                        format!(
                            "depends_on: unknown app `{}`\n  hint: {}",
                            dep.get_ref(),
                            suggest::hint("app", dep.get_ref(), all)
                        ),
                    ));
                }
            }
        }
        edges.push(deps);
    }
    if let Some(cycle) = find_cycle(&edges) {
        let names: Vec<&str> = cycle.iter().map(|&i| all[i].as_str()).collect();
        bail!(
            "the depends_on of these apps form a cycle: {}\n  hint: remove one of these depends_on",
            names.join(" -> ")
        );
    }
    Ok(())
}

/// A cycle in a graph given as "node i needs these", first node repeated
/// at the end.
pub fn find_cycle(needs: &[Vec<usize>]) -> Option<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        i: usize,
        needs: &[Vec<usize>],
        marks: &mut [Mark],
        path: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        marks[i] = Mark::Open;
        path.push(i);
        for &j in &needs[i] {
            match marks[j] {
                Mark::Open => {
                    let start = path
                        .iter()
                        .position(|&p| p == j)
                        .expect("open nodes are on the path");
                    let mut cycle = path[start..].to_vec();
                    cycle.push(j);
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(cycle) = visit(j, needs, marks, path) {
                        return Some(cycle);
                    }
                }
                Mark::Done => {}
            }
        }
        path.pop();
        marks[i] = Mark::Done;
        None
    }
    let mut marks = vec![Mark::New; needs.len()];
    (0..needs.len()).find_map(|i| {
        (marks[i] == Mark::New)
            .then(|| visit(i, needs, &mut marks, &mut Vec::new()))
            .flatten()
    })
}

/// An order in which every node comes after the nodes it needs (the
/// graph has no cycle).
pub fn order(needs: &[Vec<usize>]) -> Vec<usize> {
    let mut order = Vec::new();
    let mut placed = vec![false; needs.len()];
    while order.len() < needs.len() {
        let before = order.len();
        for i in 0..needs.len() {
            if !placed[i] && needs[i].iter().all(|&j| placed[j]) {
                placed[i] = true;
                order.push(i);
            }
        }
        assert!(order.len() > before, "plan() refuses cycles");
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_are_found_with_their_members() {
        assert_eq!(find_cycle(&[vec![1], vec![2], vec![]]), None);
        assert_eq!(
            find_cycle(&[vec![1], vec![2], vec![0]]),
            Some(vec![0, 1, 2, 0])
        );
        assert_eq!(find_cycle(&[vec![], vec![1]]), Some(vec![1, 1]));
    }
}
