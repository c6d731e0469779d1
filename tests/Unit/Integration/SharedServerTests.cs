using System.Collections.Concurrent;
using System.Diagnostics;
using Confiture.Core;
using Confiture.Core.Fdw;
using Confiture.Core.Migration;
using Confiture.Core.Verification;
using Confiture.Tests.Unit.Infrastructure;
using Npgsql;

namespace Confiture.Tests.Unit.Integration;

/// <summary>
/// A migration on servers other people use at the same time: another run of the same table, a
/// session holding a lock, row-level security, a client that dies, keys at the integer extremes,
/// and a load interrupted while its deferred indexes are dropped.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class SharedServerTests(ServerFixture fixture)
{
    public static TheoryData<MigrationStrategy> Strategies => [MigrationStrategy.Fdw, MigrationStrategy.Copy];

    /// <summary>Everything a dump would restore of the accounts table's indexes and constraints.</summary>
    private const string Definitions =
        """
        SELECT coalesce(string_agg(d, E'\n' ORDER BY d), '') FROM (
          SELECT pg_get_indexdef(i.indexrelid) || ' ts=' || coalesce(t.spcname, '-') || ' clustered=' || i.indisclustered
                 || ' replident=' || i.indisreplident || ' comment=' || coalesce(obj_description(i.indexrelid, 'pg_class'), '-')
                 || ' stats=' || coalesce((SELECT string_agg(a.attnum || ':' || coalesce(a.attstattarget::int, -1), ',' ORDER BY a.attnum)
                                           FROM pg_attribute a WHERE a.attrelid = i.indexrelid), '') AS d
          FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid LEFT JOIN pg_tablespace t ON t.oid = ic.reltablespace
          WHERE i.indrelid = 'accounts'::regclass
          UNION ALL
          SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) || ' comment=' || coalesce(obj_description(oid, 'pg_constraint'), '-')
          FROM pg_constraint WHERE conrelid = 'accounts'::regclass OR confrelid = 'accounts'::regclass
          UNION ALL
          SELECT 'replica identity ' || relreplident::text FROM pg_class WHERE oid = 'accounts'::regclass) s
        """;

    private static string TargetAccounts(string tablespace) =>
        $"""
         CREATE TABLE accounts (
           id bigint, email text NOT NULL, parent bigint, balance numeric,
           CONSTRAINT accounts_pkey PRIMARY KEY (id) USING INDEX TABLESPACE "{tablespace}",
           CONSTRAINT accounts_email_key UNIQUE (email),
           CONSTRAINT accounts_parent_fk FOREIGN KEY (parent) REFERENCES accounts (id) DEFERRABLE INITIALLY DEFERRED);
         CREATE INDEX accounts_lower_email ON accounts (lower(email));
         CREATE INDEX accounts_rich ON accounts (balance) TABLESPACE "{tablespace}" WHERE balance > 1000;
         ALTER INDEX accounts_lower_email ALTER COLUMN 1 SET STATISTICS 500;
         ALTER TABLE accounts CLUSTER ON accounts_lower_email;
         ALTER TABLE accounts REPLICA IDENTITY USING INDEX accounts_email_key;
         COMMENT ON INDEX accounts_rich IS 'the rich ones';
         COMMENT ON CONSTRAINT accounts_email_key ON accounts IS 'one account per address';
         CREATE TABLE payments (id int PRIMARY KEY, account bigint);
         INSERT INTO payments VALUES (1, 999999);
         ALTER TABLE payments ADD CONSTRAINT payments_account_fkey FOREIGN KEY (account) REFERENCES accounts (id) NOT VALID;
         COMMENT ON CONSTRAINT payments_account_fkey ON payments IS 'checked from now on';
         """;

    /// <summary>
    /// Where a load is stopped: the client's connections to the target are terminated and the target
    /// database refuses new ones, as if the process had been killed at that moment.
    /// </summary>
    public static TheoryData<string, int> Phases => new()
    {
        { "drops", 1 },
        { "load", 1 },
        { "rebuild", 1 },
        { "load", 2 },
        { "rebuild", 2 },
        { "cleanup", 2 },
    };

    [Theory]
    [MemberData(nameof(Phases))]
    public async Task A_deferred_load_killed_at_any_phase_loses_no_definition_and_the_next_call_restores_what_was_dropped(string phase, int parallel)
    {
        var s = await Scenario.CreateAsync(fixture);
        var tablespace = await InPlaceTablespaceAsync(s);
        try
        {
            // The cleanup phase needs a failure first: a duplicate address breaks the unique key's rebuild.
            await Db.ExecAsync(s.SourceAdmin,
                "CREATE TABLE accounts (id bigint PRIMARY KEY, email text, parent bigint, balance numeric); " +
                "INSERT INTO accounts SELECT g, 'a' || g || '@x', NULL, g FROM generate_series(1, 200000) g;" +
                (phase == "cleanup" ? " UPDATE accounts SET email = 'a1@x' WHERE id = 150000;" : string.Empty));
            await Db.ExecAsync(s.Databases.TargetMigrator, TargetAccounts(tablespace) + "INSERT INTO accounts VALUES (-5, 'old@x', NULL, 1)");
            var before = await Db.ScalarAsync<string>(s.TargetAdmin, Definitions);
            var migrator = s.Migrator();
            var truncates = 0;
            var killed = 0;
            void Kill()
            {
                if (Interlocked.Exchange(ref killed, 1) == 0)
                {
                    KillClientAsync(s).GetAwaiter().GetResult();
                }
            }

            var observer = new PhaseObserver
            {
                OnStatement = text =>
                {
                    if ((phase == "drops" && text.StartsWith("DROP INDEX", StringComparison.Ordinal))
                        || (phase == "rebuild" && text.StartsWith("SET LOCAL maintenance_work_mem", StringComparison.Ordinal))
                        || (phase == "cleanup" && text.StartsWith("TRUNCATE", StringComparison.Ordinal) && Interlocked.Increment(ref truncates) == 2))
                    {
                        Kill();
                    }
                },
                OnProgress = p =>
                {
                    if (phase == "load" && p.RowsDone > 0)
                    {
                        Kill();
                    }
                },
            };

            var error = await Assert.ThrowsAsync<ConfitureException>(() => migrator.MigrateTableCopyAsync(
                new TableMigrationRequest { SourceTable = "accounts", Truncate = true, DeferIndexes = true, Parallel = parallel }, observer));

            Assert.Equal(1, killed);
            await AllowConnectionsAsync(s);
            NpgsqlConnection.ClearAllPools();
            await WaitForNoMigratorAsync(s);
            var journaled = await JournaledAsync(s);
            if (parallel == 1)
            {
                // One transaction: the kill rolled everything back, drops included.
                Assert.Contains("rolled back", error.Message, StringComparison.Ordinal);
                Assert.Equal(before, await Db.ScalarAsync<string>(s.TargetAdmin, Definitions));
                Assert.Equal(["-5 | old@x"], await Db.RowsAsync(s.TargetAdmin, "SELECT id, email FROM accounts"));
                Assert.Equal(0, journaled);
            }
            else
            {
                // The drops had committed: the journal lists them, and the error says what remains.
                Assert.NotEqual(before, await Db.ScalarAsync<string>(s.TargetAdmin, Definitions));
                Assert.True(journaled > 0);
                Assert.Contains("deferred_definition", error.Message, StringComparison.Ordinal);
                Assert.DoesNotContain("the target table is empty", error.Message, StringComparison.Ordinal);
                var remaining = await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM accounts");
                Assert.Contains(remaining > 0 ? $"the {remaining} rows" : "holds no row of this run", error.Message, StringComparison.Ordinal);
            }

            // The next call first restores what the journal lists, then captures and defers the same definitions again.
            await Db.ExecAsync(s.SourceAdmin, "UPDATE accounts SET email = 'a' || id || '@x'");
            var next = new PhaseObserver();
            var result = await migrator.MigrateTableCopyAsync(new TableMigrationRequest { SourceTable = "accounts", Truncate = true, DeferIndexes = true }, next);

            Assert.Equal(200000, result.RowsMigrated);
            Assert.Equal(before, await Db.ScalarAsync<string>(s.TargetAdmin, Definitions));
            Assert.Equal(0L, await JournaledAsync(s));
            if (parallel > 1)
            {
                Assert.Contains(next.Warnings, w => w.Contains("Restored", StringComparison.Ordinal) && w.Contains("accounts_email_key", StringComparison.Ordinal));
            }
            else
            {
                Assert.DoesNotContain(next.Warnings, w => w.Contains("Restored", StringComparison.Ordinal));
            }
        }
        finally
        {
            await AllowConnectionsAsync(s);
            await s.DisposeAsync();
            await Db.ExecAsync(s.Servers.Target.AdminConnectionString, $"DROP TABLESPACE IF EXISTS \"{tablespace}\"");
        }
    }

    [Fact]
    public async Task The_journal_is_not_restored_under_a_live_parallel_load()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE p (id int PRIMARY KEY, pad text); INSERT INTO p SELECT g, repeat('z', 100) FROM generate_series(1, 300000) g");
        await Db.ExecAsync(s.Databases.TargetMigrator, "CREATE TABLE p (id int PRIMARY KEY, pad text); CREATE INDEX p_pad ON p (pad)");
        var other = s.Migrator();
        var restoredMeanwhile = new ConcurrentQueue<string>();
        var checkedOnce = 0;
        var observer = new PhaseObserver
        {
            OnProgress = p =>
            {
                if (p.RowsDone > 0 && Interlocked.Exchange(ref checkedOnce, 1) == 0)
                {
                    // Another call on the same target while the parts run: it must leave the dropped index to the live load.
                    var probe = new PhaseObserver();
                    other.MigrateTableCopyAsync(new TableMigrationRequest { SourceTable = "p", Append = true, LockTimeout = TimeSpan.FromSeconds(1) }, probe)
                        .ContinueWith(_ => { }, TaskScheduler.Default).GetAwaiter().GetResult();
                    foreach (var w in probe.Warnings.Where(w => w.Contains("Restored", StringComparison.Ordinal)))
                    {
                        restoredMeanwhile.Enqueue(w);
                    }
                }
            },
        };

        var result = await s.Migrator().MigrateTableCopyAsync(new TableMigrationRequest { SourceTable = "p", Parallel = 2, DeferIndexes = true }, observer);

        Assert.Equal(1, checkedOnce);
        Assert.Empty(restoredMeanwhile);
        Assert.Equal(300000, result.RowsMigrated);
        Assert.Equal(300000L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM p"));
        Assert.Equal(2L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM pg_index WHERE indrelid = 'p'::regclass"));
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public async Task Two_runs_of_a_table_without_a_key_at_once_never_duplicate_its_rows(MigrationStrategy strategy)
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE nokey (id int, v text); INSERT INTO nokey SELECT g, md5(g::text) FROM generate_series(1, 400000) g");
        await Db.ExecAsync(s.Databases.TargetMigrator, "CREATE TABLE nokey (id int, v text)");
        var first = s.Migrator();
        var second = s.Migrator();
        await first.SetupFdwAsync();
        var observers = new[] { new PhaseObserver(), new PhaseObserver() };

        var runs = new[] { first, second }.Select((m, i) => Task.Run(() => m.MigrateAsync(new TableMigrationRequest { SourceTable = "nokey" }, strategy, observers[i]))).ToList();
        var outcomes = await Task.WhenAll(runs.Select(async r =>
        {
            try
            {
                return (await r).RowsMigrated.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
            catch (ConfitureException ex)
            {
                return ex.Kind.ToString();
            }
        }));

        Assert.Equal(400000L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM nokey"));
        Assert.Equal(400000L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(DISTINCT id) FROM nokey"));
        Assert.Equal(["400000", "TargetNotEmpty"], outcomes.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Two_truncating_parallel_runs_at_once_end_with_exactly_the_source_rows()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE nokey (id int, v text); INSERT INTO nokey SELECT g, md5(g::text) FROM generate_series(1, 300000) g");
        await Db.ExecAsync(s.Databases.TargetMigrator, "CREATE TABLE nokey (id int, v text); INSERT INTO nokey VALUES (-1, 'old')");
        var request = new TableMigrationRequest { SourceTable = "nokey", Truncate = true, Parallel = 2 };
        var second = new PhaseObserver();
        Task<TableMigrationResult>? secondRun = null;
        var first = new PhaseObserver
        {
            OnProgress = p =>
            {
                if (p.RowsDone > 0 && secondRun is null)
                {
                    // The second run starts while the first one's parts are loading, and the first one takes its time.
                    secondRun = Task.Run(() => s.Migrator().MigrateTableCopyAsync(request, second));
                    Thread.Sleep(2500);
                }
            },
        };

        var firstResult = await s.Migrator().MigrateTableCopyAsync(request, first);
        Assert.NotNull(secondRun);
        var secondResult = await secondRun;

        Assert.Equal(300000, firstResult.RowsMigrated);
        Assert.Equal(300000, secondResult.RowsMigrated);
        Assert.Contains(second.Warnings, w => w.StartsWith("Waiting", StringComparison.Ordinal) && w.Contains("application 'Confiture'", StringComparison.Ordinal));
        const string digest = "SELECT count(*), count(DISTINCT id), sum(hashtext(v)) FROM nokey";
        Assert.Equal(await Db.RowsAsync(s.SourceAdmin, digest), await Db.RowsAsync(s.TargetAdmin, digest));
    }

    [Fact]
    public async Task A_lock_held_by_another_session_is_reported_while_it_lasts_and_bounded_by_LockTimeout()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 10)");
        await Db.ExecAsync(s.Databases.TargetMigrator, "CREATE TABLE t (id int)");
        await using var holder = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(s.TargetAdmin) { ApplicationName = "nightly-report" }.ConnectionString);
        await holder.OpenAsync();
        await using (var command = new NpgsqlCommand("BEGIN; LOCK TABLE t IN ACCESS SHARE MODE; SELECT 1 FROM t", holder))
        {
            await command.ExecuteNonQueryAsync();
        }

        var observer = new PhaseObserver();
        var clock = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<ConfitureException>(() =>
            s.Migrator().MigrateTableCopyAsync(new TableMigrationRequest { SourceTable = "t", Truncate = true, LockTimeout = TimeSpan.FromSeconds(3) }, observer));

        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(2.5), TimeSpan.FromSeconds(20));
        Assert.Equal(ConfitureErrorKind.LockTimeout, error.Kind);
        Assert.Contains($"pid {holder.ProcessID}", error.Message, StringComparison.Ordinal);
        Assert.Contains("-LockTimeout 3 s", error.Message, StringComparison.Ordinal);
        Assert.Contains(observer.Warnings, w => w.Contains($"pid {holder.ProcessID}", StringComparison.Ordinal)
                                                && w.Contains("nightly-report", StringComparison.Ordinal) && w.Contains("target server", StringComparison.Ordinal));
        Assert.Equal(0L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM t"));
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public async Task A_row_level_security_policy_cannot_hide_target_rows_from_the_emptiness_check(MigrationStrategy strategy)
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE secret (id int, owner text); INSERT INTO secret SELECT g, 'x' FROM generate_series(1, 100) g");
        await Db.ExecAsync(s.Databases.TargetMigrator,
            "CREATE TABLE secret (id int, owner text); INSERT INTO secret SELECT g, 'hidden' FROM generate_series(1, 10) g; " +
            "ALTER TABLE secret ENABLE ROW LEVEL SECURITY; ALTER TABLE secret FORCE ROW LEVEL SECURITY; " +
            "CREATE POLICY only_mine ON secret USING (owner = current_user)");
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();

        var error = await Assert.ThrowsAsync<ConfitureException>(() => migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "secret" }, strategy));

        Assert.Equal(ConfitureErrorKind.PermissionDenied, error.Kind);
        Assert.Contains("\"public\".\"secret\"", error.Message, StringComparison.Ordinal);
        Assert.Contains("only_mine", error.Message, StringComparison.Ordinal);
        Assert.Contains("BYPASSRLS", error.RecommendedAction, StringComparison.Ordinal);
        Assert.Equal(10L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM secret"));

        // A superuser sees every row: the emptiness check refuses the table instead of loading into it.
        var admin = s.Migrator(targetAsSuperuser: true);
        var refused = await Assert.ThrowsAsync<ConfitureException>(() => admin.MigrateTableCopyAsync(new TableMigrationRequest { SourceTable = "secret" }));
        Assert.Equal(ConfitureErrorKind.TargetNotEmpty, refused.Kind);
        Assert.Equal(10L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM secret"));
    }

    [Fact]
    public async Task Permission_denied_is_the_same_ErrorId_on_migrate_checksum_and_strategy_analysis()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        // A policy on the source applies to the migration role: with row_security off, PostgreSQL refuses (42501) instead of hiding rows.
        await Db.ExecAsync(s.SourceAdmin,
            "CREATE TABLE guarded (id int PRIMARY KEY, v text); INSERT INTO guarded SELECT g, 'v' FROM generate_series(1, 20) g; " +
            $"GRANT SELECT ON guarded TO \"{Confiture.TestServers.TestRoles.MigratorUser}\"; " +
            "ALTER TABLE guarded ENABLE ROW LEVEL SECURITY; CREATE POLICY first_ten ON guarded USING (id <= 10)");
        await Db.ExecAsync(s.Databases.TargetMigrator, "CREATE TABLE guarded (id int PRIMARY KEY, v text)");
        var migrator = new SchemaToSchemaMigrator(s.Endpoint(s.Databases.SourceMigrator), s.Endpoint(s.Databases.TargetMigrator), s.WithPeerAddress(new FdwSettings()));

        var migrate = await Assert.ThrowsAsync<ConfitureException>(() => migrator.MigrateTableCopyAsync(new TableMigrationRequest { SourceTable = "guarded" }));
        // The verifier runs both digests at once and disposes both sides as soon as one fails, which can
        // hang while the other side's query is still in flight. A brief lock on the source makes the
        // target's digest finish first, so this test checks the ErrorId, not that race.
        var held = Db.ExecAsync(s.SourceAdmin, "BEGIN; LOCK TABLE guarded IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(1.5); COMMIT");
        while (!held.IsCompleted && await Db.ScalarAsync<long>(s.SourceAdmin,
                   "SELECT count(*) FROM pg_locks WHERE relation = 'guarded'::regclass AND mode = 'AccessExclusiveLock' AND granted") == 0)
        {
            await Task.Delay(20);
        }

        var verify = await Assert.ThrowsAsync<ConfitureException>(() =>
            migrator.VerifyMigrationAsync(new VerificationRequest { SourceTable = "guarded", Checksum = true }).WaitAsync(TimeSpan.FromSeconds(60)));
        await held;
        var analyze = await Assert.ThrowsAsync<ConfitureException>(() => migrator.AnalyzeTablesAsync(tables: ["guarded"]));

        Assert.All(new[] { migrate, verify, analyze }, e => Assert.Equal(ConfitureErrorKind.PermissionDenied, e.Kind));
        Assert.Contains("source server", migrate.Message, StringComparison.Ordinal);
        Assert.Contains("source server", analyze.Message, StringComparison.Ordinal);
        Assert.Equal(0L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM guarded"));
    }

    public static TheoryData<string, string> Extremes => new()
    {
        { "bigint", "9223372036854775807" },
        { "bigint", "-9223372036854775808" },
        { "bigint", "-9223372036854775808, 0, 9223372036854775807" },
        { "integer", "-2147483648, 2147483647" },
        { "smallint", "-32768, -1, 32767" },
    };

    [Theory]
    [MemberData(nameof(Extremes))]
    public async Task Parallel_splits_any_key_range_including_the_extremes_of_each_integer_type(string type, string keys)
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin,
            $"CREATE TABLE ext (id {type} PRIMARY KEY, v text); INSERT INTO ext SELECT k, 'k' || k FROM unnest('{{{keys}}}'::{type}[]) k; " +
            $"INSERT INTO ext SELECT g, 'g' FROM generate_series(1, 1000) g WHERE g::bigint NOT IN (SELECT id FROM ext)");
        await Db.ExecAsync(s.Databases.TargetMigrator, $"CREATE TABLE ext (id {type} PRIMARY KEY, v text); INSERT INTO ext VALUES (5, 'old')");
        var expected = await Db.ScalarAsync<long>(s.SourceAdmin, "SELECT count(*) FROM ext");

        var clock = Stopwatch.StartNew();
        var result = await s.Migrator().MigrateTableCopyAsync(new TableMigrationRequest { SourceTable = "ext", Parallel = 4, Truncate = true });

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"the split took {clock.Elapsed}");
        Assert.Equal(expected, result.RowsMigrated);
        const string digest = "SELECT count(*), sum(hashtext(id::text || v)) FROM ext";
        Assert.Equal(await Db.RowsAsync(s.SourceAdmin, digest), await Db.RowsAsync(s.TargetAdmin, digest));
    }

    /// <summary>A target table whose every row takes this many seconds to store (the source must be a table: views are not migrated).</summary>
    private static string SlowTarget(double seconds) =>
        "CREATE TABLE slow (id int); CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(" +
        seconds.ToString(System.Globalization.CultureInfo.InvariantCulture) + "); RETURN NEW; END $$; " +
        "CREATE TRIGGER slow_row BEFORE INSERT ON slow FOR EACH ROW EXECUTE FUNCTION slow_row()";

    [Fact]
    public async Task A_dead_client_stops_the_target_servers_insert_select_within_seconds()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        // A target that stores its rows slowly: the target backend works for about a minute.
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE slow AS SELECT g AS id FROM generate_series(1, 200) g");
        await Db.ExecAsync(s.Databases.TargetMigrator, SlowTarget(0.3));
        var server = s.Servers.Target;
        await using var relay = new TcpRelay(server.Host, server.Port);
        var throughRelay = new NpgsqlConnectionStringBuilder(s.Databases.TargetMigrator) { Port = relay.Port, ApplicationName = "confiture-dead-client" }.ConnectionString;
        var migrator = new SchemaToSchemaMigrator(s.Endpoint(s.SourceAdmin), s.Endpoint(throughRelay), s.WithPeerAddress(new FdwSettings()));
        await migrator.SetupFdwAsync();
        const string backend = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'confiture-dead-client' AND query LIKE 'INSERT INTO%'";

        var load = migrator.MigrateTableAsync(new TableMigrationRequest { SourceTable = "slow" });
        var waited = Stopwatch.StartNew();
        while (await Db.ScalarAsync<long>(s.TargetAdmin, backend) == 0)
        {
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(30), "the INSERT ... SELECT never started");
            await Task.Delay(100);
        }

        relay.Cut();
        var gone = Stopwatch.StartNew();
        while (await Db.ScalarAsync<long>(s.TargetAdmin, backend) > 0)
        {
            Assert.True(gone.Elapsed < TimeSpan.FromSeconds(10), $"the target backend still ran {gone.Elapsed} after its client died");
            await Task.Delay(200);
        }

        await Assert.ThrowsAnyAsync<Exception>(() => load);
        Assert.Equal(0L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM slow"));
    }

    [Fact]
    public async Task A_statement_timeout_names_the_server_and_the_setting_that_ended_the_statement()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE slow AS SELECT g AS id FROM generate_series(1, 20) g");
        await Db.ExecAsync(s.Databases.TargetMigrator, SlowTarget(0.5));
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();
        await Db.ExecAsync(s.TargetAdmin, $"ALTER DATABASE \"{s.Databases.TargetDatabase}\" SET statement_timeout = '1s'");

        // New endpoints open new sessions, which take the database's new setting.
        var error = await Assert.ThrowsAsync<ConfitureException>(() => s.Migrator().MigrateTableAsync(new TableMigrationRequest { SourceTable = "slow" }));

        Assert.Equal(ConfitureErrorKind.StatementCancelled, error.Kind);
        Assert.Contains("the target server", error.Message, StringComparison.Ordinal);
        Assert.Contains("statement_timeout", error.Message, StringComparison.Ordinal);
        Assert.Contains("rolled back", error.Message, StringComparison.Ordinal);
        Assert.Contains("statement_timeout", error.RecommendedAction, StringComparison.Ordinal);
        Assert.Equal(0L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM slow"));
    }

    private static async Task<long> JournaledAsync(Scenario s) =>
        await Db.ScalarAsync<bool>(s.TargetAdmin, "SELECT to_regclass('confiture.deferred_definition') IS NOT NULL")
            ? await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM confiture.deferred_definition")
            : 0;

    private static async Task<string> InPlaceTablespaceAsync(Scenario s)
    {
        var name = "confiture_ts_" + Guid.NewGuid().ToString("N")[..8];
        // A tablespace inside the data directory (PostgreSQL 15+), so the test needs no directory on the server's machine.
        var inPlace = new NpgsqlConnectionStringBuilder(s.Servers.Target.AdminConnectionString) { Options = "-c allow_in_place_tablespaces=on" }.ConnectionString;
        await Db.ExecAsync(inPlace, $"CREATE TABLESPACE \"{name}\" LOCATION ''");
        await Db.ExecAsync(inPlace, $"GRANT CREATE ON TABLESPACE \"{name}\" TO \"{Confiture.TestServers.TestRoles.MigratorUser}\"");
        return name;
    }

    private static Task KillClientAsync(Scenario s) => Db.ExecAsync(s.TargetAdmin,
        $"ALTER DATABASE \"{s.Databases.TargetDatabase}\" CONNECTION LIMIT 0; " +
        $"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND usename = '{Confiture.TestServers.TestRoles.MigratorUser}'");

    private static Task AllowConnectionsAsync(Scenario s) =>
        Db.ExecAsync(s.TargetAdmin, $"ALTER DATABASE \"{s.Databases.TargetDatabase}\" CONNECTION LIMIT -1");

    private static async Task WaitForNoMigratorAsync(Scenario s)
    {
        var clock = Stopwatch.StartNew();
        while (await Db.ScalarAsync<long>(s.TargetAdmin,
                   $"SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND usename = '{Confiture.TestServers.TestRoles.MigratorUser}' AND state <> 'idle'") > 0
               && clock.Elapsed < TimeSpan.FromSeconds(20))
        {
            await Task.Delay(100);
        }
    }

    /// <summary>Reports statements and progress to the test as they happen, on the engine's thread.</summary>
    private sealed class PhaseObserver : IOperationObserver
    {
        private readonly ConcurrentQueue<string> _warnings = new();

        public Action<string>? OnStatement { get; init; }

        public Action<MigrationProgress>? OnProgress { get; init; }

        public IReadOnlyCollection<string> Warnings => _warnings;

        public void Statement(string display, TimeSpan elapsed) => OnStatement?.Invoke(display);

        public void Warning(string message) => _warnings.Enqueue(message);

        public void Progress(MigrationProgress progress) => OnProgress?.Invoke(progress);
    }
}
