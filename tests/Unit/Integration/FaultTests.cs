using System.Diagnostics;
using Confiture.Core;
using Confiture.Core.Fdw;
using Confiture.Core.Migration;
using Confiture.Tests.Unit.Infrastructure;
using Npgsql;

namespace Confiture.Tests.Unit.Integration;

/// <summary>Failures in the middle of a migration: whatever breaks, the target is left as it was.</summary>
[Collection(ServerCollection.Name)]
public sealed class FaultTests(ServerFixture fixture)
{
    public static TheoryData<MigrationStrategy> Strategies => [MigrationStrategy.Fdw, MigrationStrategy.Copy];

    private const string BigSource = "CREATE TABLE big (id int, pad text); INSERT INTO big SELECT g, repeat('q', 150) FROM generate_series(1, 1500000) g";
    private const string BigTarget = "CREATE TABLE big (id int PRIMARY KEY, pad text); INSERT INTO big VALUES (-1, 'before')";

    [Theory]
    [MemberData(nameof(Strategies))]
    public async Task The_source_server_vanishing_mid_copy_is_a_clear_error_and_nothing_is_half_written(MigrationStrategy strategy)
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, BigSource);
        await Db.ExecAsync(s.Databases.TargetMigrator, BigTarget);
        var server = s.Servers.Source;
        await using var relay = new TcpRelay(server.Host, server.Port);
        var throughRelay = new NpgsqlConnectionStringBuilder(s.SourceAdmin) { Port = relay.Port, Timeout = 5 }.ConnectionString;
        // The target server reaches the source through the relay too (both run on this machine).
        var migrator = new SchemaToSchemaMigrator(s.Endpoint(throughRelay), s.Endpoint(s.Databases.TargetMigrator),
            new FdwSettings { SourceHostForTarget = server.Host == server.HostForPeer ? null : server.HostForPeer });
        await migrator.SetupFdwAsync();
        var observer = new RecordingObserver { OnProgress = p => { if (p.RowsDone > 0) relay.Cut(); } };
        if (strategy == MigrationStrategy.Fdw)
        {
            _ = Task.Delay(800).ContinueWith(_ => relay.Cut(), TaskScheduler.Default);
        }

        var clock = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<ConfitureException>(() =>
            migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "big", Truncate = true }, strategy, observer));

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"the failure took {clock.Elapsed}");
        Assert.Contains(error.Kind, new[] { ConfitureErrorKind.ConnectionFailed, ConfitureErrorKind.FdwConnectionFailed });
        Assert.Contains("rolled back", error.Message, StringComparison.Ordinal);
        Assert.Equal(["-1 | before"], await Db.RowsAsync(s.TargetAdmin, "SELECT * FROM big"));
    }

    [Theory]
    [InlineData("source")]
    [InlineData("target")]
    public async Task A_backend_terminated_mid_copy_is_a_clear_error_and_the_target_is_as_it_was(string side)
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, BigSource);
        await Db.ExecAsync(s.Databases.TargetMigrator, BigTarget);
        var migrator = s.Migrator();
        var admin = side == "source" ? s.SourceAdmin : s.TargetAdmin;
        var terminated = 0;
        var observer = new RecordingObserver
        {
            OnProgress = p =>
            {
                if (p.RowsDone > 0 && Interlocked.Exchange(ref terminated, 1) == 0)
                {
                    Db.ExecAsync(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'COPY%' AND pid <> pg_backend_pid()").GetAwaiter().GetResult();
                }
            },
        };

        var error = await Assert.ThrowsAsync<ConfitureException>(() =>
            migrator.MigrateTableCopyAsync(new TableMigrationRequest { SourceTable = "big", Truncate = true }, observer));

        Assert.Equal(1, terminated);
        Assert.Contains(error.Kind, new[] { ConfitureErrorKind.ConnectionFailed, ConfitureErrorKind.MigrationFailed });
        Assert.Contains("rolled back", error.Message, StringComparison.Ordinal);
        Assert.Equal(["-1 | before"], await Db.RowsAsync(s.TargetAdmin, "SELECT * FROM big"));
        NpgsqlConnection.ClearAllPools();
        var again = await migrator.MigrateTableCopyAsync(new TableMigrationRequest { SourceTable = "big", Truncate = true });
        Assert.Equal(1500000, again.RowsMigrated);
    }

    [Fact]
    public async Task The_foreign_table_disappearing_between_plan_and_migrate_is_named()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE gone (id int); INSERT INTO gone VALUES (1)");
        await Db.ExecAsync(s.Databases.TargetMigrator, "CREATE TABLE gone (id int); INSERT INTO gone VALUES (-1)");
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();
        var plan = await migrator.AnalyzeTablesAsync();
        Assert.Single(plan);
        await Db.ExecAsync(s.SourceAdmin, "DROP TABLE gone");

        var error = await Assert.ThrowsAsync<ConfitureException>(() =>
            migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "gone", Truncate = true }, plan[0].Strategy));

        Assert.Contains("gone", error.Message, StringComparison.Ordinal);
        Assert.Equal(["-1"], await Db.RowsAsync(s.TargetAdmin, "SELECT * FROM gone"));
    }
}
