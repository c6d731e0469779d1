using System.Collections.Concurrent;
using Confiture.Core;
using Confiture.Core.Migration;
using Confiture.Core.Run;
using Confiture.Tests.Unit.Infrastructure;
using Npgsql;

namespace Confiture.Tests.Unit.Integration;

/// <summary>Runs that load several groups at once: never a child before its parents, and a failed parent stops its children.</summary>
[Collection(ServerCollection.Name)]
public sealed class ParallelRunTests(ServerFixture fixture)
{
    /// <summary>A parent with two children, and a table on its own.</summary>
    internal const string Schema =
        """
        CREATE TABLE note (id int PRIMARY KEY, body text);
        CREATE TABLE region (id int PRIMARY KEY, name text NOT NULL);
        CREATE TABLE shop (id int PRIMARY KEY, region_id int NOT NULL REFERENCES region);
        CREATE TABLE clerk (id int PRIMARY KEY, region_id int NOT NULL REFERENCES region);
        """;

    internal const string Rows =
        """
        INSERT INTO note SELECT g, 'n' || g FROM generate_series(1, 30) g;
        INSERT INTO region SELECT g, 'r' || g FROM generate_series(1, 10) g;
        INSERT INTO shop SELECT g, 1 + g % 10 FROM generate_series(1, 200) g;
        INSERT INTO clerk SELECT g, 1 + g % 10 FROM generate_series(1, 100) g;
        """;

    internal static readonly string[] Tables = ["note", "region", "shop", "clerk"];

    internal static async Task<(RunPlan Plan, List<RunGroupOutcome> Outcomes, Guid? RunId)> RunAsync(
        SchemaToSchemaMigrator migrator, RunOptions options, MigrationMap? map = null)
    {
        var plan = await migrator.PlanRunAsync(Tables.Select(t => new RunTable(new TableMigrationRequest { SourceTable = t, Map = map?.For(t) }, MigrationStrategy.Copy)).ToList());
        var outcomes = new ConcurrentQueue<RunGroupOutcome>();
        await using var run = await migrator.StartRunAsync(plan, options);
        await run.ExecuteAsync(options.ThrottleLimit, outcomes.Enqueue);
        return (plan, outcomes.ToList(), run.RunId);
    }

    [Fact]
    public async Task Two_groups_load_at_once_while_a_third_waits_for_a_lock_and_children_start_only_after_their_parent_committed()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, Schema + Rows);
        await Db.ExecAsync(s.Databases.TargetMigrator, Schema);
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();
        var plan = await migrator.PlanRunAsync(Tables.Select(t => new RunTable(new TableMigrationRequest { SourceTable = t }, MigrationStrategy.Copy)).ToList());
        Assert.Equal([["note"], ["region"], ["shop"], ["clerk"]], plan.Order);

        // Another session holds the first table of the plan: one at a time, nothing else could load.
        await using var locker = new NpgsqlConnection(s.TargetAdmin);
        await locker.OpenAsync();
        var hold = await locker.BeginTransactionAsync();
        await using (var command = new NpgsqlCommand("LOCK TABLE note IN ACCESS EXCLUSIVE MODE", locker))
        {
            await command.ExecuteNonQueryAsync();
        }

        var outcomes = new ConcurrentQueue<RunGroupOutcome>();
        await using (var run = await migrator.StartRunAsync(plan, new RunOptions { ThrottleLimit = 2 }))
        {
            var running = run.ExecuteAsync(2, outcomes.Enqueue);
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (outcomes.Count < 3 && !running.IsCompleted && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }

            var first = outcomes.Select(o => o.Tables[0]).ToList();
            Assert.Equal(3, first.Count);
            Assert.Equal("region", first[0]);
            Assert.Equal(["clerk", "shop"], first.Skip(1).Order().ToList());
            Assert.False(running.IsCompleted, "the locked table is still waiting");
            await hold.RollbackAsync();
            await running;
        }

        var order = outcomes.Select(o => o.Tables[0]).ToList();
        Assert.Equal(4, order.Count);
        Assert.Equal("note", order[3]);
        Assert.All(outcomes, o => Assert.Null(o.Error));
        Assert.Equal(340L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT (SELECT count(*) FROM note) + (SELECT count(*) FROM region) + (SELECT count(*) FROM shop) + (SELECT count(*) FROM clerk)"));
        Assert.Single(outcomes.Select(o => o.Results[0].SourceSnapshotAt).Distinct());
    }

    [Fact]
    public async Task A_failed_parent_stops_its_children_with_a_clear_error_while_the_rest_of_the_run_loads()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, Schema + Rows);
        await Db.ExecAsync(s.Databases.TargetMigrator, Schema + "ALTER TABLE region ADD CONSTRAINT few CHECK (id < 5);");
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();

        var (_, outcomes, runId) = await RunAsync(migrator, new RunOptions { ThrottleLimit = 3 });

        var byTable = outcomes.ToDictionary(o => o.Tables[0]);
        Assert.Null(byTable["note"].Error);
        Assert.NotNull(byTable["region"].Error);
        foreach (var child in new[] { "shop", "clerk" })
        {
            Assert.Equal(ConfitureErrorKind.MigrationFailed, byTable[child].Error!.Kind);
            Assert.Equal($"{child} not migrated: it references region, which failed in this run.", byTable[child].Error!.Message);
        }

        Assert.Equal(0L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT (SELECT count(*) FROM region) + (SELECT count(*) FROM shop) + (SELECT count(*) FROM clerk)"));
        Assert.Equal("failed", await Db.ScalarAsync<string>(s.TargetAdmin, $"SELECT state FROM confiture.run WHERE run_id = '{runId}'"));
        Assert.Equal(["public | note | 30"], await Db.RowsAsync(s.TargetAdmin, $"SELECT target_schema, target_table, rows_written FROM confiture.run_table WHERE run_id = '{runId}'"));
    }

    [Fact]
    public async Task A_throttle_limit_outside_1_to_64_is_refused_before_anything_is_written()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, Schema + Rows);
        await Db.ExecAsync(s.Databases.TargetMigrator, Schema);
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();
        var plan = await migrator.PlanRunAsync(Tables.Select(t => new RunTable(new TableMigrationRequest { SourceTable = t }, MigrationStrategy.Copy)).ToList());

        foreach (var limit in new[] { 0, 65 })
        {
            var refused = await Assert.ThrowsAsync<ConfitureException>(() => migrator.StartRunAsync(plan, new RunOptions { ThrottleLimit = limit }));
            Assert.Equal(ConfitureErrorKind.InvalidArgument, refused.Kind);
            Assert.Contains($"ThrottleLimit {limit} is not from 1 to 64", refused.Message, StringComparison.Ordinal);
        }

        Assert.Equal(0L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM confiture.run"));
        Assert.Equal(0L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM note"));
    }
    [Fact]
    public async Task With_DeferIndexes_tables_loading_at_once_rebuild_their_indexes_and_keys_each_in_its_own_transaction()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, Schema + Rows);
        await Db.ExecAsync(s.Databases.TargetMigrator, Schema + "CREATE INDEX shop_region ON shop (region_id); CREATE INDEX clerk_region ON clerk (region_id);");
        const string definitions =
            """
            SELECT string_agg(d, ' ; ' ORDER BY d) FROM (
                SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) || ' ' || convalidated AS d FROM pg_constraint WHERE connamespace = 'public'::regnamespace
                UNION ALL SELECT indexdef FROM pg_indexes WHERE schemaname = 'public') x
            """;
        var before = await Db.ScalarAsync<string>(s.TargetAdmin, definitions);
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();
        var plan = await migrator.PlanRunAsync(Tables.Select(t => new RunTable(new TableMigrationRequest { SourceTable = t, DeferIndexes = true }, MigrationStrategy.Copy)).ToList());
        var observer = new RecordingObserver();
        var outcomes = new ConcurrentQueue<RunGroupOutcome>();

        await using (var run = await migrator.StartRunAsync(plan, new RunOptions { ThrottleLimit = 2 }))
        {
            await run.ExecuteAsync(2, outcomes.Enqueue, observer);
        }

        Assert.All(outcomes, o => Assert.Null(o.Error));
        Assert.Contains(observer.Statements, t => t.StartsWith("CREATE UNIQUE INDEX shop_pkey", StringComparison.Ordinal) || t.Contains("ADD CONSTRAINT \"shop_pkey\"", StringComparison.Ordinal));
        Assert.Equal(before, await Db.ScalarAsync<string>(s.TargetAdmin, definitions));
        Assert.Equal(
            await Db.RowsAsync(s.SourceAdmin, "SELECT * FROM clerk ORDER BY id"),
            await Db.RowsAsync(s.TargetAdmin, "SELECT * FROM clerk ORDER BY id"));
    }
}
