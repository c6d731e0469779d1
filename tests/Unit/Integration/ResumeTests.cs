using Confiture.Core;
using Confiture.Core.Migration;
using Confiture.Core.Run;
using Confiture.Tests.Unit.Infrastructure;
using Npgsql;

namespace Confiture.Tests.Unit.Integration;

/// <summary>-Resume: a failed run continued from its ledger, what it committed checked and kept, never copied twice.</summary>
[Collection(ServerCollection.Name)]
public sealed class ResumeTests(ServerFixture fixture)
{
    /// <summary>A run whose region table fails on a check constraint: note commits, region and its children do not.</summary>
    private static async Task<(Scenario S, SchemaToSchemaMigrator Migrator, Guid RunId)> FailedRunAsync(ServerFixture fixture)
    {
        var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, ParallelRunTests.Schema + ParallelRunTests.Rows);
        await Db.ExecAsync(s.Databases.TargetMigrator, ParallelRunTests.Schema + "ALTER TABLE region ADD CONSTRAINT few CHECK (id < 5);");
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();
        var (_, outcomes, runId) = await ParallelRunTests.RunAsync(migrator, new RunOptions { ThrottleLimit = 2 });
        Assert.Equal(3, outcomes.Count(o => o.Error is not null));
        return (s, migrator, runId!.Value);
    }

    [Fact]
    public async Task Resume_skips_what_the_failed_run_committed_and_migrates_the_rest_into_the_same_run()
    {
        var (s, migrator, runId) = await FailedRunAsync(fixture);
        await using var _ = s;
        var committedAt = await Db.ScalarAsync<DateTime>(s.TargetAdmin, "SELECT committed_at FROM confiture.run_table WHERE target_table = 'note'");
        await Db.ExecAsync(s.TargetAdmin, "ALTER TABLE region DROP CONSTRAINT few");

        var (_, outcomes, resumedId) = await ParallelRunTests.RunAsync(migrator, new RunOptions { ThrottleLimit = 2, Resume = true });

        Assert.Equal(runId, resumedId);
        Assert.All(outcomes, o => Assert.Null(o.Error));
        var results = outcomes.SelectMany(o => o.Results).ToDictionary(r => r.SourceTable);
        Assert.True(results["note"].Resumed);
        Assert.Equal(30L, results["note"].RowsMigrated);
        Assert.False(results["region"].Resumed || results["shop"].Resumed || results["clerk"].Resumed);
        Assert.Equal(committedAt, await Db.ScalarAsync<DateTime>(s.TargetAdmin, "SELECT committed_at FROM confiture.run_table WHERE target_table = 'note'"));
        Assert.Equal(30L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM note"));
        Assert.Equal(
            await Db.RowsAsync(s.SourceAdmin, "SELECT * FROM shop ORDER BY id"),
            await Db.RowsAsync(s.TargetAdmin, "SELECT * FROM shop ORDER BY id"));

        var runs = await migrator.RunsAsync();
        var run = Assert.Single(runs);
        Assert.Equal("completed", run.State);
        Assert.NotNull(run.ResumedAt);
        Assert.Equal(["clerk", "note", "region", "shop"], run.Committed.Select(c => c.TargetTable).Order().ToList());
        Assert.Equal(30L, run.Committed.Single(c => c.TargetTable == "note").RowsWritten);

        // Nothing is left to resume.
        var none = await Assert.ThrowsAsync<ConfitureException>(() => ParallelRunTests.RunAsync(migrator, new RunOptions { Resume = true }));
        Assert.Equal(ConfitureErrorKind.ResumeNotPossible, none.Kind);
        Assert.Contains("No unfinished run of session confiture_source_server over these 4 tables", none.Message, StringComparison.Ordinal);
        Assert.Contains($"the latest, {runId}, completed at", none.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Resume_with_another_map_or_a_committed_table_changed_since_is_refused_naming_the_table_and_writes_nothing()
    {
        var (s, migrator, _) = await FailedRunAsync(fixture);
        await using var _ = s;
        await Db.ExecAsync(s.TargetAdmin, "ALTER TABLE region DROP CONSTRAINT few");
        var map = new MigrationMap(new Dictionary<string, TableMap> { ["note"] = new() { Exclude = ["body"], Default = ["body"] } });

        var changedMap = await Assert.ThrowsAsync<ConfitureException>(() => ParallelRunTests.RunAsync(migrator, new RunOptions { Resume = true }, map));

        Assert.Equal(ConfitureErrorKind.ResumeNotPossible, changedMap.Kind);
        Assert.Equal("note", changedMap.Target);
        Assert.Contains("\"public\".\"note\" was committed by run", changedMap.Message, StringComparison.Ordinal);
        Assert.Contains("with another map", changedMap.Message, StringComparison.Ordinal);
        Assert.Equal(0L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM region"));

        await Db.ExecAsync(s.TargetAdmin, "INSERT INTO note VALUES (31, 'added by hand')");
        var changedRows = await Assert.ThrowsAsync<ConfitureException>(() => ParallelRunTests.RunAsync(migrator, new RunOptions { Resume = true }));
        Assert.Equal(ConfitureErrorKind.ResumeNotPossible, changedRows.Kind);
        Assert.Contains("holds 31 rows, but run", changedRows.Message, StringComparison.Ordinal);
        Assert.Equal(0L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM region"));
        Assert.Equal("failed", Assert.Single(await migrator.RunsAsync()).State);
    }

    [Fact]
    public async Task A_run_still_held_by_a_live_process_is_not_resumed_under_it_and_one_whose_process_died_reads_as_failed()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, ParallelRunTests.Schema + ParallelRunTests.Rows);
        await Db.ExecAsync(s.Databases.TargetMigrator, ParallelRunTests.Schema);
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();
        var plan = await migrator.PlanRunAsync(ParallelRunTests.Tables.Select(t => new RunTable(new TableMigrationRequest { SourceTable = t }, MigrationStrategy.Copy)).ToList());

        await using (var live = await migrator.StartRunAsync(plan, new RunOptions()))
        {
            await live.MigrateGroupAsync(0);
            Assert.Equal("running", Assert.Single(await migrator.RunsAsync()).State);

            var refused = await Assert.ThrowsAsync<ConfitureException>(() => migrator.StartRunAsync(plan, new RunOptions { Resume = true }));
            Assert.Equal(ConfitureErrorKind.ResumeNotPossible, refused.Kind);
            Assert.Contains("is still running in another process", refused.Message, StringComparison.Ordinal);
        }

        // As a killed process leaves it: still 'running', and nobody holds its lock.
        await Db.ExecAsync(s.TargetAdmin, "UPDATE confiture.run SET state = 'running', finished_at = NULL");
        Assert.Equal("failed", Assert.Single(await migrator.RunsAsync()).State);

        var (_, outcomes, _) = await ParallelRunTests.RunAsync(migrator, new RunOptions { Resume = true });
        Assert.Equal(["note"], outcomes.SelectMany(o => o.Results).Where(r => r.Resumed).Select(r => r.SourceTable).ToList());
        Assert.Equal("completed", Assert.Single(await migrator.RunsAsync()).State);
    }
    [Fact]
    public async Task Resume_with_Truncate_empties_only_the_tables_still_to_load_and_a_table_whose_plan_failed_before_joins_the_run()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, ParallelRunTests.Schema + ParallelRunTests.Rows + "CREATE TABLE tag (id int PRIMARY KEY, label text); INSERT INTO tag VALUES (1, 'a'), (2, 'b');");
        await Db.ExecAsync(s.Databases.TargetMigrator, ParallelRunTests.Schema + "ALTER TABLE region ADD CONSTRAINT few CHECK (id < 5); CREATE TABLE tag (id int PRIMARY KEY, name text);");
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();
        string[] tables = [.. ParallelRunTests.Tables, "tag"];
        async Task<(RunPlan Plan, List<RunGroupOutcome> Outcomes)> RunAsync(RunOptions options, MigrationMap? map)
        {
            var plan = await migrator.PlanRunAsync(tables.Select(t => new RunTable(new TableMigrationRequest { SourceTable = t, Map = map?.For(t), Truncate = true }, MigrationStrategy.Copy)).ToList());
            var outcomes = new List<RunGroupOutcome>();
            await using var run = await migrator.StartRunAsync(plan, options);
            await run.ExecuteAsync(options.ThrottleLimit, o => { lock (outcomes) { outcomes.Add(o); } });
            return (plan, outcomes);
        }

        var (first, _) = await RunAsync(new RunOptions { ThrottleLimit = 2 }, null);
        Assert.Equal("tag", Assert.Single(first.Failures).Table);
        var committedAt = await Db.ScalarAsync<DateTime>(s.TargetAdmin, "SELECT committed_at FROM confiture.run_table WHERE target_table = 'note'");
        await Db.ExecAsync(s.TargetAdmin, "ALTER TABLE region DROP CONSTRAINT few");
        var map = new MigrationMap(new Dictionary<string, TableMap> { ["tag"] = new() { Rename = new Dictionary<string, string> { ["label"] = "name" } } });

        var (resumed, outcomes) = await RunAsync(new RunOptions { ThrottleLimit = 2, Resume = true }, map);

        Assert.Empty(resumed.Failures);
        Assert.Contains("TRUNCATE", string.Join(" ", resumed.Describe()), StringComparison.Ordinal);
        Assert.All(outcomes, o => Assert.Null(o.Error));
        Assert.Equal(["note"], outcomes.SelectMany(o => o.Results).Where(r => r.Resumed).Select(r => r.SourceTable).ToList());
        Assert.Equal(committedAt, await Db.ScalarAsync<DateTime>(s.TargetAdmin, "SELECT committed_at FROM confiture.run_table WHERE target_table = 'note'"));
        Assert.Equal(30L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM note"));
        Assert.Equal(["1 | a", "2 | b"], await Db.RowsAsync(s.TargetAdmin, "SELECT id, name FROM tag ORDER BY id"));
        var run = Assert.Single(await migrator.RunsAsync());
        Assert.Equal("completed", run.State);
        Assert.Equal(5, run.Tables.Count);
        Assert.Equal(5, run.Committed.Count);
    }
    [Fact]
    public async Task A_run_cancelled_while_a_table_waits_is_recorded_as_cancelled_and_resume_loads_only_that_table()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, ParallelRunTests.Schema + ParallelRunTests.Rows);
        await Db.ExecAsync(s.Databases.TargetMigrator, ParallelRunTests.Schema);
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();
        var plan = await migrator.PlanRunAsync(ParallelRunTests.Tables.Select(t => new RunTable(new TableMigrationRequest { SourceTable = t }, MigrationStrategy.Copy)).ToList());
        await using (var locker = new NpgsqlConnection(s.TargetAdmin))
        {
            await locker.OpenAsync();
            await using var hold = await locker.BeginTransactionAsync();
            await using (var command = new NpgsqlCommand("LOCK TABLE note IN ACCESS EXCLUSIVE MODE", locker))
            {
                await command.ExecuteNonQueryAsync();
            }

            var outcomes = new System.Collections.Concurrent.ConcurrentQueue<RunGroupOutcome>();
            using var stop = new CancellationTokenSource();
            await using (var run = await migrator.StartRunAsync(plan, new RunOptions { ThrottleLimit = 2 }))
            {
                var running = run.ExecuteAsync(2, outcomes.Enqueue, cancellationToken: stop.Token);
                var deadline = DateTime.UtcNow.AddSeconds(60);
                while (outcomes.Count < 3 && DateTime.UtcNow < deadline)
                {
                    await Task.Delay(50);
                }

                Assert.Equal(3, outcomes.Count);
                await stop.CancelAsync();
                await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running);
            }

            Assert.Equal("cancelled", Assert.Single(await migrator.RunsAsync()).State);
            await hold.RollbackAsync();
        }

        Assert.Equal(0L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM note"));
        var (_, resumed, _) = await ParallelRunTests.RunAsync(migrator, new RunOptions { ThrottleLimit = 2, Resume = true });
        var results = resumed.SelectMany(o => o.Results).ToList();
        Assert.Equal(["note"], results.Where(r => !r.Resumed).Select(r => r.SourceTable).ToList());
        Assert.Equal(["clerk", "region", "shop"], results.Where(r => r.Resumed).Select(r => r.SourceTable).Order().ToList());
        Assert.Equal(30L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM note"));
        Assert.Equal("completed", Assert.Single(await migrator.RunsAsync()).State);
    }
}
