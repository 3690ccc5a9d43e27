use super::*;
use crate::test_support::graph;

fn output(prefix: &str) -> TaskOutput {
    TaskOutput { shuffle_prefix: Some(prefix.to_string()), ..TaskOutput::default() }
}

#[test]
fn reduces_wait_for_the_whole_scan_and_get_every_map_output() {
    let mut graph = graph();
    let worker = WorkerId::new("w");
    assert_eq!(graph.runnable(usize::MAX), vec![(0, 0), (0, 1), (0, 2)]);
    let tasks: Vec<TaskDefinition> = (0..3).map(|index| graph.launch(0, index, &worker)).collect();
    assert!(graph.runnable(usize::MAX).is_empty());
    for (index, task) in tasks.iter().enumerate() {
        assert!(graph.succeed(&task.task_id, task.attempt, worker.clone(), output(&format!("/d{index}"))));
    }
    assert_eq!(graph.runnable(usize::MAX), vec![(1, 0), (1, 1)]);
    let reduce = graph.launch(1, 1, &worker);
    let TaskKind::Reduce(reduce_task) = &reduce.kind else { panic!("reduce") };
    let directories: Vec<&str> = reduce_task.inputs.iter().map(|input| input.prefix.as_str()).collect();
    assert_eq!(directories, vec!["/d0", "/d1", "/d2"]);
    assert_eq!(reduce_task.partition, 1);
}

#[test]
fn retryable_failures_retry_up_to_the_limit_then_fail_the_job() {
    let mut graph = graph();
    let worker = WorkerId::new("w");
    for attempt in 0..MAX_ATTEMPTS {
        let task = graph.launch(0, 0, &worker);
        assert_eq!(task.attempt, attempt);
        let outcome = graph.fail(&task.task_id, task.attempt, true);
        let expected = if attempt + 1 < MAX_ATTEMPTS { FailureOutcome::Retrying } else { FailureOutcome::JobFailed };
        assert_eq!(outcome, expected);
    }
}

#[test]
fn non_retryable_failures_fail_at_once_and_stale_reports_are_ignored() {
    let mut graph = graph();
    let worker = WorkerId::new("w");
    let first = graph.launch(0, 0, &worker);
    assert_eq!(graph.worker_lost(&worker), 1);
    let second = graph.launch(0, 0, &worker);
    // The first attempt reports late: it must not count, or its files could be committed twice.
    assert!(!graph.succeed(&first.task_id, first.attempt, worker.clone(), output("/old")));
    assert_eq!(graph.fail(&second.task_id, second.attempt, false), FailureOutcome::JobFailed);
}

#[test]
fn a_lost_worker_takes_its_map_outputs_with_it() {
    let mut graph = graph();
    let (first, second) = (WorkerId::new("w1"), WorkerId::new("w2"));
    let tasks: Vec<TaskDefinition> =
        (0..3).map(|index| graph.launch(0, index, if index == 0 { &first } else { &second })).collect();
    for (index, task) in tasks.iter().enumerate() {
        let worker = if index == 0 { first.clone() } else { second.clone() };
        assert!(graph.succeed(&task.task_id, task.attempt, worker, output(&format!("d{index}"))));
    }
    let reduce = graph.launch(1, 0, &first);
    // The reducer cannot reach w2: both of w2's map outputs run again, the reduce waits for them,
    // and its attempt is not counted.
    assert_eq!(graph.fetch_failed(&reduce.task_id, reduce.attempt, &second), FailureOutcome::Retrying);
    assert_eq!(graph.runnable(usize::MAX), vec![(0, 1), (0, 2)]);
    assert!(!graph.stages[0].is_complete());
    let again = graph.launch(0, 1, &first);
    assert_eq!(again.attempt, 1);
    // w1 dies too: its running scan and its finished map output are both lost.
    assert_eq!(graph.worker_lost(&first), 2);
    assert_eq!(graph.runnable(usize::MAX), vec![(0, 0), (0, 1), (0, 2)]);
    let reduce_again = graph.launch(1, 0, &second);
    assert_eq!(reduce_again.attempt, 0, "fetch failures do not use up attempts");
}

/// The bookkeeping behind `runnable` and `is_complete` agrees with the task statuses after any
/// sequence of launches, successes, failures, failed launches and lost workers; and no task is
/// ever both runnable and running, or lost (neither runnable, running nor done).
#[test]
fn counters_agree_with_statuses_under_any_sequence_of_events() {
    use proptest::prelude::*;
    let event = (0_u8..5, 0_usize..8, 0_u8..2);
    proptest!(ProptestConfig::with_cases(300), |(events in proptest::collection::vec(event, 1..80))| {
        let mut graph = graph();
        let workers = [WorkerId::new("w0"), WorkerId::new("w1")];
        for (kind, pick, worker) in events {
            let worker = &workers[worker as usize];
            let running = graph.running_attempts();
            match kind {
                0 => {
                    if let Some(&(stage, index)) = graph.runnable(usize::MAX).get(pick % 8) {
                        graph.launch(stage, index, worker);
                    }
                }
                1..=3 => {
                    if let Some((on, task, attempt)) = running.get(pick % running.len().max(1)) {
                        match kind {
                            1 => {
                                graph.succeed(task, *attempt, on.clone(), output("p"));
                            }
                            2 => {
                                graph.fail(task, *attempt, true);
                            }
                            _ => graph.launch_failed(task, *attempt),
                        }
                    }
                }
                _ => {
                    graph.worker_lost(worker);
                }
            }
            let runnable = graph.runnable(usize::MAX);
            for (stage_index, stage) in graph.stages.iter().enumerate() {
                let done = stage.tasks().iter().filter(|task| matches!(task.status, TaskStatus::Done { .. })).count();
                prop_assert_eq!(stage.done, done);
                let pending: Vec<usize> = (0..stage.tasks().len())
                    .filter(|&index| stage.tasks()[index].status == TaskStatus::Pending)
                    .collect();
                prop_assert_eq!(stage.pending.iter().copied().collect::<Vec<_>>(), pending.clone());
                if stage_index == 0 || graph.stages[0].is_complete() {
                    for index in pending {
                        prop_assert!(runnable.contains(&(stage_index, index)));
                    }
                }
            }
        }
    });
}
