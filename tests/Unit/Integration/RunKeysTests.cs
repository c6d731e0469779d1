using System.Collections.Concurrent;
using Confiture.Core;
using Confiture.Core.Migration;
using Confiture.Core.Run;
using Confiture.Core.Verification;
using Confiture.Tests.Unit.Infrastructure;

namespace Confiture.Tests.Unit.Integration;

/// <summary>
/// -DeferIndexes over a run: the keys among its tables go when it starts and come back, validated,
/// when every table has loaded; a key whose rows do not match stays NOT VALID and is reported; a
/// run that ended without adding them back leaves them to the next call, which does.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class RunKeysTests(ServerFixture fixture)
{
    /// <summary>A parent with two children, a key cycle between two tables, and a table that references itself.</summary>
    private const string Schema =
        """
        CREATE TABLE region (id int PRIMARY KEY, name text NOT NULL);
        CREATE TABLE shop (id int PRIMARY KEY, region_id int NOT NULL REFERENCES region);
        CREATE TABLE clerk (id int PRIMARY KEY, region_id int NOT NULL REFERENCES region ON DELETE CASCADE, shop_id int REFERENCES shop DEFERRABLE INITIALLY DEFERRED);
        CREATE TABLE team (id int PRIMARY KEY, lead_id int, parent_id int REFERENCES team);
        CREATE TABLE member (id int PRIMARY KEY, team_id int NOT NULL REFERENCES team);
        ALTER TABLE team ADD CONSTRAINT team_lead FOREIGN KEY (lead_id) REFERENCES member;
        """;

    private const string Rows =
        """
        INSERT INTO region SELECT g, 'r' || g FROM generate_series(1, 10) g;
        INSERT INTO shop SELECT g, 1 + g % 10 FROM generate_series(1, 300) g;
        INSERT INTO clerk SELECT g, 1 + g % 10, 1 + g % 300 FROM generate_series(1, 500) g;
        INSERT INTO team SELECT g, NULL, CASE WHEN g > 1 THEN 1 END FROM generate_series(1, 20) g;
        INSERT INTO member SELECT g, 1 + g % 20 FROM generate_series(1, 200) g;
        UPDATE team SET lead_id = id;
        """;

    private static readonly string[] Tables = ["region", "shop", "clerk", "team", "member"];

    private const string Keys =
        """
        SELECT string_agg(conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) || ' ' || convalidated, ' ; ' ORDER BY conrelid::regclass::text, conname)
        FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND contype = 'f'
        """;

    private static async Task<(RunPlan Plan, List<RunGroupOutcome> Outcomes)> RunAsync(SchemaToSchemaMigrator migrator, int throttleLimit, RecordingObserver? observer = null)
    {
        var plan = await migrator.PlanRunAsync(Tables.Select(t => new RunTable(new TableMigrationRequest { SourceTable = t, DeferIndexes = true, Truncate = true }, MigrationStrategy.Copy)).ToList());
        var outcomes = new ConcurrentQueue<RunGroupOutcome>();
        await using (var run = await migrator.StartRunAsync(plan, new RunOptions { ThrottleLimit = throttleLimit }))
        {
            await run.ExecuteAsync(throttleLimit, outcomes.Enqueue, observer);
        }

        return (plan, outcomes.ToList());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task The_keys_among_the_tables_come_back_validated_once_all_have_loaded_and_a_key_cycle_loads_too(int throttleLimit)
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, Schema + Rows);
        await Db.ExecAsync(s.Databases.TargetMigrator, Schema);
        var before = await Db.ScalarAsync<string>(s.TargetAdmin, Keys);
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();
        var observer = new RecordingObserver();

        var (plan, outcomes) = await RunAsync(migrator, throttleLimit, observer);

        // Every table is a group of its own (the cycle team <-> member too), none waiting for another.
        Assert.Equal(Tables.Length, plan.GroupCount);
        Assert.All(Enumerable.Range(0, plan.GroupCount), g => Assert.Empty(plan.ParentGroups(g)));
        Assert.Equal(["\"clerk_region_id_fkey\" of public.clerk", "\"clerk_shop_id_fkey\" of public.clerk", "\"member_team_id_fkey\" of public.member",
            "\"shop_region_id_fkey\" of public.shop", "\"team_lead\" of public.team"], plan.DeferredKeyNames.Order(StringComparer.Ordinal));
        Assert.Contains(plan.Describe(), l => l.EndsWith("VALIDATE CONSTRAINT \"shop_region_id_fkey\"", StringComparison.Ordinal));
        Assert.All(outcomes, o => Assert.Null(o.Error));
        Assert.Equal(Tables.Length, outcomes.Count);

        // Each key exactly as the target had it (cascade, deferrable, the self-reference untouched), and validated.
        Assert.Equal(before, await Db.ScalarAsync<string>(s.TargetAdmin, Keys));
        Assert.Contains(observer.Statements, t => t.StartsWith("ALTER TABLE public.shop VALIDATE CONSTRAINT", StringComparison.Ordinal));
        Assert.Equal(0L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM confiture.run_key"));
        foreach (var table in Tables)
        {
            Assert.Equal(await Db.RowsAsync(s.SourceAdmin, $"SELECT * FROM {table} ORDER BY id"), await Db.RowsAsync(s.TargetAdmin, $"SELECT * FROM {table} ORDER BY id"));
        }
    }

    [Fact]
    public async Task A_key_whose_rows_do_not_match_stays_not_valid_and_is_reported_then_a_later_run_validates_it()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        // The source lacks the key shop -> region, and one shop names a region it does not have.
        await Db.ExecAsync(s.SourceAdmin, Schema.Replace("region_id int NOT NULL REFERENCES region);", "region_id int NOT NULL);", StringComparison.Ordinal) + Rows +
                                          "INSERT INTO shop VALUES (301, 99);");
        await Db.ExecAsync(s.Databases.TargetMigrator, Schema);
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();

        var (_, outcomes) = await RunAsync(migrator, 2);

        var failed = Assert.Single(outcomes, o => o.Error is not null);
        Assert.Equal(MigrationRun.KeysGroup, failed.Group);
        Assert.Equal(["shop"], failed.Tables);
        Assert.Equal(ConfitureErrorKind.MigrationFailed, failed.Error!.Kind);
        Assert.Contains("\"shop_region_id_fkey\" of public.shop to public.region could not be validated", failed.Error.Message, StringComparison.Ordinal);
        Assert.Contains("violates foreign key constraint", failed.Error.Message, StringComparison.Ordinal);
        Assert.Contains("stands NOT VALID", failed.Error.Message, StringComparison.Ordinal);
        Assert.Equal(Tables.Length, outcomes.Count(o => o.Group != MigrationRun.KeysGroup && o.Error is null));
        Assert.Equal(["shop_region_id_fkey | False"], await Db.RowsAsync(s.TargetAdmin, "SELECT conname, convalidated FROM pg_constraint WHERE contype = 'f' AND NOT convalidated"));
        Assert.Equal(["public.shop | shop_region_id_fkey | not validated"], await Db.RowsAsync(s.TargetAdmin, "SELECT owner_table, name, state FROM confiture.run_key"));
        Assert.Equal(301L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM shop"));

        // The missing region on the source, and the run again: the key comes back valid and leaves the list.
        await Db.ExecAsync(s.SourceAdmin, "INSERT INTO region VALUES (99, 'late')");
        var (_, again) = await RunAsync(migrator, 2);
        Assert.All(again, o => Assert.Null(o.Error));
        Assert.Equal(0L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND NOT convalidated"));
        Assert.Equal(0L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM confiture.run_key"));
    }

    [Fact]
    public async Task Keys_a_run_left_dropped_are_added_back_by_the_next_call_on_the_target_with_a_warning()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, Schema + Rows);
        await Db.ExecAsync(s.Databases.TargetMigrator, Schema);
        var before = await Db.ScalarAsync<string>(s.TargetAdmin, Keys);
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();
        var plan = await migrator.PlanRunAsync(Tables.Select(t => new RunTable(new TableMigrationRequest { SourceTable = t, DeferIndexes = true, Truncate = true }, MigrationStrategy.Copy)).ToList());

        // The run starts (keys dropped), loads two tables and ends there, as a process that died would.
        await using (var run = await migrator.StartRunAsync(plan))
        {
            Assert.Equal(["team_parent_id_fkey"], await Db.RowsAsync(s.TargetAdmin, "SELECT conname FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace"));
            Assert.Equal(5L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM confiture.run_key WHERE state = 'dropped'"));
            var order = plan.Order.Select(g => g[0]).ToList();
            await run.MigrateGroupAsync(order.IndexOf("region"));
            await run.MigrateGroupAsync(order.IndexOf("shop"));

            // While the run lives, another call leaves its keys alone.
            var other = new RecordingObserver();
            await s.Migrator().PlanRunAsync([new RunTable(new TableMigrationRequest { SourceTable = "region" }, MigrationStrategy.Copy)], other);
            Assert.Empty(other.Warnings);
            Assert.Equal(5L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM confiture.run_key"));
        }

        var observer = new RecordingObserver();
        await s.Migrator().VerifyMigrationAsync(new VerificationRequest { SourceTable = "region" }, observer);

        var warning = Assert.Single(observer.Warnings, w => w.Contains("foreign key(s) that an interrupted -DeferIndexes run", StringComparison.Ordinal));
        Assert.Contains("Added back 5", warning, StringComparison.Ordinal);
        // clerk and member hold no rows, team none either: every key validates (shop's rows have their regions).
        Assert.Equal(before, await Db.ScalarAsync<string>(s.TargetAdmin, Keys));
        Assert.Equal(0L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM confiture.run_key"));
    }
}
