using Confiture.Core;
using Confiture.Core.Fdw;
using Confiture.Tests.Unit.Infrastructure;
using Confiture.TestServers;
using Npgsql;

namespace Confiture.Tests.Unit.Integration;

/// <summary>
/// Setup and cleanup on a target that other people, jobs and sessions use: no password in the
/// server's logs, sessions that do not repoint each other, cleanup that drops only what it
/// created, and concurrent setups that wait for each other.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class FdwSharedServerTests(ServerFixture fixture)
{
    private const string ObjectsOnTarget =
        """
        SELECT (SELECT count(*) FROM pg_foreign_server)::text || '/' ||
               (SELECT count(*) FROM pg_user_mappings)::text || '/' ||
               (SELECT count(*) FROM pg_foreign_table)::text || '/' ||
               (SELECT count(*) FROM pg_namespace WHERE nspname = 'old_schema')::text
        """;

    [Fact]
    public async Task No_password_reaches_the_server_log_or_pg_stat_statements_also_from_concurrent_and_failing_setups()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE a (id int); CREATE TABLE b (id int)");
        var adminPassword = new NpgsqlConnectionStringBuilder(s.SourceAdmin).Password!;
        // The part of the special password that SQL quoting leaves as it is.
        var specialPart = TestRoles.MigratorPassword[13..^2];
        var targetServer = s.Servers.Target.AdminConnectionString;
        var database = s.Databases.TargetDatabase;
        await Db.ExecAsync(s.TargetAdmin, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
        await Db.ExecAsync(targetServer, $"ALTER DATABASE \"{database}\" SET log_statement = 'ddl'");
        await Db.ExecAsync(targetServer, $"ALTER DATABASE \"{database}\" SET log_min_error_statement = 'error'");
        await Db.ExecAsync(s.TargetAdmin, "SELECT pg_stat_statements_reset()");
        var logStart = await Db.ScalarAsync<long>(targetServer, "SELECT coalesce((pg_stat_file('log', true)).size, -1)");
        Assert.True(logStart >= 0, "The target's server log is expected at <data_directory>/log.");
        try
        {
            // One setup, then two at once (they take over from each other), as the admin and as a
            // role whose password holds every quoting character.
            await s.Migrator().SetupFdwAsync();
            await Task.WhenAll(s.Migrator().SetupFdwAsync(), s.Migrator().SetupFdwAsync());
            var special = new SchemaToSchemaMigrator(s.Endpoint(s.Databases.SourceMigrator), s.Endpoint(s.Databases.TargetMigrator),
                s.WithPeerAddress(new FdwSettings { ServerName = "special", ForeignSchema = "special_schema" }));
            await special.SetupFdwAsync();

            // A superuser's setup where pg_stat_statements also tracks nested statements.
            await Db.ExecAsync(targetServer, $"ALTER DATABASE \"{database}\" SET pg_stat_statements.track = 'all'");
            var tracked = s.Migrator(new FdwSettings { ServerName = "tracked", ForeignSchema = "tracked_schema" }, targetAsSuperuser: true);
            await tracked.SetupFdwAsync();
            await tracked.CleanupFdwAsync();
            await Db.ExecAsync(targetServer, $"ALTER DATABASE \"{database}\" RESET pg_stat_statements.track");

            // A failing one: the user mapping statement itself is refused.
            await Db.ExecAsync(s.TargetAdmin,
                """
                CREATE FUNCTION public.no_mappings() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'user mappings are frozen'; END $$;
                CREATE EVENT TRIGGER no_mappings ON ddl_command_start WHEN TAG IN ('CREATE USER MAPPING', 'ALTER USER MAPPING') EXECUTE FUNCTION public.no_mappings();
                """);
            var failing = new SchemaToSchemaMigrator(s.Endpoint(s.Databases.SourceMigrator), s.Endpoint(s.Databases.TargetMigrator),
                s.WithPeerAddress(new FdwSettings { ServerName = "failing", ForeignSchema = "failing_schema" }));
            var error = await Assert.ThrowsAsync<ConfitureException>(() => failing.SetupFdwAsync());
            Assert.Contains("user mappings are frozen", error.Message, StringComparison.Ordinal);
            var failingAgain = await Assert.ThrowsAsync<ConfitureException>(() => s.Migrator().SetupFdwAsync());
            Assert.Contains("user mappings are frozen", failingAgain.Message, StringComparison.Ordinal);
            await Db.ExecAsync(s.TargetAdmin, "DROP EVENT TRIGGER no_mappings");

            await s.Migrator().CleanupFdwAsync();
            await special.CleanupFdwAsync();

            var log = await ReadLogAsync(targetServer, logStart);
            Assert.Contains("IMPORT FOREIGN SCHEMA", log, StringComparison.Ordinal); // ddl statements were logged
            Assert.Contains("user mappings are frozen", log, StringComparison.Ordinal); // and the failure
            Assert.DoesNotContain(adminPassword, log, StringComparison.Ordinal);
            Assert.DoesNotContain(specialPart, log, StringComparison.Ordinal);

            var statements = await Db.ScalarAsync<string>(s.TargetAdmin,
                $"SELECT coalesce(string_agg(query, E'\\n'), '') FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '{database}')");
            Assert.Contains("pg_temp.confiture_user_mapping", statements, StringComparison.Ordinal);
            Assert.DoesNotContain(adminPassword, statements, StringComparison.Ordinal);
            Assert.DoesNotContain(specialPart, statements, StringComparison.Ordinal);
        }
        finally
        {
            await Db.ExecAsync(targetServer, $"ALTER DATABASE \"{database}\" RESET ALL");
        }
    }

    [Fact]
    public async Task A_second_session_for_another_source_does_not_repoint_the_first_unless_forced()
    {
        await using var first = await Scenario.CreateAsync(fixture);
        await using var other = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(first.SourceAdmin, "CREATE TABLE t (id int); INSERT INTO t VALUES (1)");
        await Db.ExecAsync(other.SourceAdmin, "CREATE TABLE t (id int); INSERT INTO t VALUES (2), (3)");
        await first.Migrator().SetupFdwAsync();
        var second = new SchemaToSchemaMigrator(first.Endpoint(other.SourceAdmin), first.Endpoint(first.Databases.TargetMigrator), first.WithPeerAddress(new FdwSettings()));

        var error = await Assert.ThrowsAsync<ConfitureException>(() => second.SetupFdwAsync());
        var planError = await Assert.ThrowsAsync<ConfitureException>(() => second.PlanSetupFdwAsync());
        var cleanupError = await Assert.ThrowsAsync<ConfitureException>(() => second.CleanupFdwAsync());

        Assert.Equal(ConfitureErrorKind.ServerInUse, error.Kind);
        Assert.Equal(ConfitureErrorKind.ServerInUse, planError.Kind);
        Assert.Equal(ConfitureErrorKind.ServerInUse, cleanupError.Kind);
        Assert.Contains(first.Databases.SourceDatabase, error.Message, StringComparison.Ordinal);
        Assert.Contains("-ServerName", error.RecommendedAction, StringComparison.Ordinal);
        Assert.Equal(1L, await Db.ScalarAsync<long>(first.Databases.TargetMigrator, "SELECT sum(id) FROM old_schema.t"));

        var forced = new SchemaToSchemaMigrator(first.Endpoint(other.SourceAdmin), first.Endpoint(first.Databases.TargetMigrator), first.WithPeerAddress(new FdwSettings { Force = true }));
        var observer = new RecordingObserver();
        await forced.SetupFdwAsync(observer);

        Assert.Equal(5L, await Db.ScalarAsync<long>(first.Databases.TargetMigrator, "SELECT sum(id) FROM old_schema.t"));
        Assert.Contains(observer.Warnings, w => w.Contains("Repointing", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_live_session_of_another_process_is_refused_until_it_ends()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE t (id int)");
        await s.Migrator().SetupFdwAsync();

        // Another process's session: it holds its lock on a connection of its own and the record names it.
        await using var otherProcess = new NpgsqlConnection(s.Databases.TargetMigrator + ";Pooling=false");
        await otherProcess.OpenAsync();
        await using (var take = new NpgsqlCommand("SELECT pg_advisory_lock(4242424242)", otherProcess))
        {
            await take.ExecuteNonQueryAsync();
        }

        await Db.ExecAsync(s.TargetAdmin, "UPDATE confiture.setup SET session_lock = 4242424242, session_client = 'ops-vm process 77'");

        var error = await Assert.ThrowsAsync<ConfitureException>(() => s.Migrator().SetupFdwAsync());
        var cleanup = await Assert.ThrowsAsync<ConfitureException>(() => s.Migrator().CleanupFdwAsync());

        Assert.Equal(ConfitureErrorKind.ServerInUse, error.Kind);
        Assert.Contains("ops-vm process 77", error.Message, StringComparison.Ordinal);
        Assert.Contains("-Force", error.RecommendedAction, StringComparison.Ordinal);
        Assert.Equal(ConfitureErrorKind.ServerInUse, cleanup.Kind);
        Assert.Equal("1/1/1/1", await Db.ScalarAsync<string>(s.TargetAdmin, ObjectsOnTarget));

        // The process ends (its connection closes): the objects are free to take over.
        await otherProcess.CloseAsync();
        await s.Migrator().SetupFdwAsync();
        await s.Migrator().CleanupFdwAsync();
        Assert.Equal("0/0/0/0", await Db.ScalarAsync<string>(s.TargetAdmin, ObjectsOnTarget));
    }

    [Fact]
    public async Task A_live_session_of_another_process_is_taken_over_with_Force()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE t (id int)");
        await s.Migrator().SetupFdwAsync();
        await using var otherProcess = new NpgsqlConnection(s.Databases.TargetMigrator + ";Pooling=false");
        await otherProcess.OpenAsync();
        await using (var take = new NpgsqlCommand("SELECT pg_advisory_lock(4242424243)", otherProcess))
        {
            await take.ExecuteNonQueryAsync();
        }

        await Db.ExecAsync(s.TargetAdmin, "UPDATE confiture.setup SET session_lock = 4242424243");

        await s.Migrator(new FdwSettings { Force = true }).SetupFdwAsync();

        Assert.NotEqual(4242424243L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT session_lock FROM confiture.setup"));
        await s.Migrator().CleanupFdwAsync();
        Assert.Equal("0/0/0/0", await Db.ScalarAsync<string>(s.TargetAdmin, ObjectsOnTarget));
    }

    [Fact]
    public async Task Cleanup_drops_only_what_setup_recorded_and_names_what_it_leaves()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE a (id int); CREATE TABLE b (id int)");
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();
        var role = "confiture_other_" + s.Databases.TargetDatabase[^16..^4].ToLowerInvariant();
        // A DBA's own foreign tables on Confiture's server, in the foreign schema and elsewhere, and another role's mapping.
        await Db.ExecAsync(s.TargetAdmin,
            $"""
            CREATE ROLE {role};
            CREATE USER MAPPING FOR {role} SERVER confiture_source_server OPTIONS (user 'x');
            CREATE FOREIGN TABLE old_schema.hand_made (id int) SERVER confiture_source_server OPTIONS (table_name 'a');
            CREATE SCHEMA reports;
            CREATE FOREIGN TABLE reports.remote_b (id int) SERVER confiture_source_server OPTIONS (table_name 'b');
            """);
        var observer = new RecordingObserver();
        try
        {
            await migrator.CleanupFdwAsync(observer);

            var left = await Db.RowsAsync(s.TargetAdmin,
                "SELECT n.nspname || '.' || c.relname FROM pg_foreign_table ft JOIN pg_class c ON c.oid = ft.ftrelid JOIN pg_namespace n ON n.oid = c.relnamespace ORDER BY 1");
            Assert.Equal(["old_schema.hand_made", "reports.remote_b"], left);
            Assert.Equal([$"{role}"], await Db.RowsAsync(s.TargetAdmin, "SELECT usename FROM pg_user_mappings"));
            Assert.Equal(1L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM pg_foreign_server"));
            Assert.Contains(observer.Warnings, w => w.Contains("hand_made", StringComparison.Ordinal) && w.Contains("remote_b", StringComparison.Ordinal));
            Assert.Contains(observer.Warnings, w => w.Contains($"{role}", StringComparison.Ordinal));

            // Once the DBA removed theirs, cleanup finishes the job.
            await Db.ExecAsync(s.TargetAdmin,
                $"DROP FOREIGN TABLE old_schema.hand_made, reports.remote_b; DROP USER MAPPING FOR {role} SERVER confiture_source_server");
            await migrator.CleanupFdwAsync();
            Assert.Equal("0/0/0/0", await Db.ScalarAsync<string>(s.TargetAdmin, ObjectsOnTarget));
            Assert.True(await Db.ScalarAsync<bool>(s.TargetAdmin, "SELECT to_regnamespace('confiture') IS NULL"), "the emptied record goes too");
        }
        finally
        {
            await Db.ExecAsync(s.TargetAdmin, $"DROP OWNED BY {role}; DROP ROLE {role}");
        }
    }

    [Fact]
    public async Task A_record_copied_from_another_database_owns_nothing_here()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE a (id int)");
        await s.Migrator().SetupFdwAsync();
        // As a dump restored into this database would leave it: same rows, another database's identity.
        await Db.ExecAsync(s.TargetAdmin, "UPDATE confiture.setup SET database_oid = 1");

        var setup = await Assert.ThrowsAsync<ConfitureException>(() => s.Migrator().SetupFdwAsync());
        var cleanup = await Assert.ThrowsAsync<ConfitureException>(() => s.Migrator().CleanupFdwAsync());

        Assert.Equal(ConfitureErrorKind.ServerNotOwned, setup.Kind);
        Assert.Equal(ConfitureErrorKind.ServerNotOwned, cleanup.Kind);
        Assert.Equal("1/1/1/1", await Db.ScalarAsync<string>(s.TargetAdmin, ObjectsOnTarget));
    }

    [Fact]
    public async Task Setup_records_each_object_it_created()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE a (id int); CREATE TABLE b (id int)");

        await s.Migrator().SetupFdwAsync();

        Assert.Equal(
            ["foreign table | old_schema | a", "foreign table | old_schema | b", "schema |  | old_schema", $"user mapping |  | {TestRoles.MigratorUser}"],
            await Db.RowsAsync(s.TargetAdmin, "SELECT kind, schema_name, name FROM confiture.setup_object ORDER BY 1, 2, 3"));
        Assert.Equal([$"confiture_source_server | {s.Databases.SourceDatabase} | {TestRoles.MigratorUser}"],
            await Db.RowsAsync(s.TargetAdmin, "SELECT server_name, source_database, set_up_by FROM confiture.setup"));
    }

    [Fact]
    public async Task Concurrent_setups_wait_for_each_other_and_all_succeed()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE a (id int); CREATE TABLE b (id int); CREATE TABLE c (id int)");
        await s.Migrator().SetupFdwAsync();

        // Also the very first one: the record and the server do not exist yet.
        await using var fresh = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(fresh.SourceAdmin, "CREATE TABLE a (id int)");
        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => fresh.Migrator().SetupFdwAsync())));
        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => s.Migrator(new FdwSettings { FetchSize = 500 }).SetupFdwAsync())));

        Assert.Equal("1/1/3/1", await Db.ScalarAsync<string>(s.TargetAdmin, ObjectsOnTarget));
        Assert.Equal("1/1/1/1", await Db.ScalarAsync<string>(fresh.TargetAdmin, ObjectsOnTarget));
    }

    [Fact]
    public async Task Concurrent_setups_for_two_sources_give_one_session_and_one_clear_error()
    {
        await using var first = await Scenario.CreateAsync(fixture);
        await using var other = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(first.SourceAdmin, "CREATE TABLE t (id int)");
        await Db.ExecAsync(other.SourceAdmin, "CREATE TABLE t (id int)");
        var target = first.Databases.TargetMigrator;

        var runs = new[]
        {
            Task.Run(() => new SchemaToSchemaMigrator(first.Endpoint(first.SourceAdmin), first.Endpoint(target), first.WithPeerAddress(new FdwSettings())).SetupFdwAsync()),
            Task.Run(() => new SchemaToSchemaMigrator(first.Endpoint(other.SourceAdmin), first.Endpoint(target), first.WithPeerAddress(new FdwSettings())).SetupFdwAsync()),
        };
        var outcomes = await Task.WhenAll(runs.Select(async run =>
        {
            try
            {
                await run;
                return "ok";
            }
            catch (ConfitureException ex)
            {
                return ex.Kind.ToString();
            }
        }));

        Assert.Equal(["ServerInUse", "ok"], outcomes.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_table_postgres_fdw_cannot_import_is_reported_and_the_others_are_imported()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin,
            "CREATE TYPE mood AS ENUM ('ok', 'sad'); CREATE TABLE a (id int); CREATE TABLE feelings (id int, m mood); CREATE TABLE z (id int)");
        var observer = new RecordingObserver();

        var plan = await s.Migrator().SetupFdwAsync(observer);

        Assert.Equal(["a", "feelings", "z"], plan.Tables);
        Assert.Equal(["feelings"], plan.NotImported.Keys);
        Assert.Contains("mood", plan.NotImported["feelings"], StringComparison.Ordinal);
        Assert.Contains(observer.Warnings, w => w.Contains("feelings", StringComparison.Ordinal) && w.Contains("Copy", StringComparison.Ordinal));
        Assert.Equal("1/1/2/1", await Db.ScalarAsync<string>(s.TargetAdmin, ObjectsOnTarget));
    }

    [Fact]
    public async Task A_source_connection_without_any_password_gets_an_error_that_says_where_it_looked_and_what_to_pass()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE a (id int)");
        // Through the source's Unix socket, which trusts local logins: this process needs no
        // password, but postgres_fdw does for a role that is not a superuser.
        var socket = await Db.ScalarAsync<string>(s.SourceAdmin, "SELECT split_part(current_setting('unix_socket_directories'), ',', 1)");
        Assert.False(string.IsNullOrEmpty(socket), "this test needs the source's Unix socket (local test clusters)");
        var source = s.Endpoint($"Host={socket};Port={s.Servers.Source.Port};Database={s.Databases.SourceDatabase};Username={TestRoles.MigratorUser}");
        var migrator = new SchemaToSchemaMigrator(source, s.Endpoint(s.Databases.TargetMigrator),
            new FdwSettings { SourceHostForTarget = s.Servers.Source.HostForPeer, SourcePortForTarget = s.Servers.Source.PortForPeer });

        var error = await Assert.ThrowsAsync<ConfitureException>(() => migrator.SetupFdwAsync());

        Assert.Equal(ConfitureErrorKind.FdwConnectionFailed, error.Kind);
        Assert.Contains("PGPASSWORD", error.RecommendedAction, StringComparison.Ordinal);
        Assert.Contains("-Credential", error.RecommendedAction, StringComparison.Ordinal);
        Assert.Equal("0/0/0/0", await Db.ScalarAsync<string>(s.TargetAdmin, ObjectsOnTarget));
    }

    [Fact]
    public async Task A_record_this_role_may_not_read_is_a_clear_permission_error_for_setup_and_cleanup()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE a (id int)");
        // A superuser's session made the record, so it belongs to the superuser.
        await s.Migrator(new FdwSettings { ServerName = "admins", ForeignSchema = "admins_schema" }, targetAsSuperuser: true).SetupFdwAsync();

        var setup = await Assert.ThrowsAsync<ConfitureException>(() => s.Migrator().SetupFdwAsync());
        var cleanup = await Assert.ThrowsAsync<ConfitureException>(() => s.Migrator().CleanupFdwAsync());

        Assert.Equal(ConfitureErrorKind.PermissionDenied, setup.Kind);
        Assert.Equal(ConfitureErrorKind.PermissionDenied, cleanup.Kind);
        Assert.Contains("confiture", setup.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_session_whose_connection_the_server_ended_is_claimed_again_by_the_next_setup()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE t (id int)");
        await s.Migrator().SetupFdwAsync();
        const string held =
            """
            SELECT count(*) FROM pg_locks l, confiture.setup s
            WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
              AND ((l.classid::bigint << 32) | l.objid::bigint) = s.session_lock
            """;
        Assert.Equal(1L, await Db.ScalarAsync<long>(s.TargetAdmin, held));

        // The server ends the session's idle connection (idle_session_timeout, a DBA, a restart).
        await Db.ExecAsync(s.TargetAdmin,
            "SELECT pg_terminate_backend(l.pid) FROM pg_locks l, confiture.setup s WHERE l.locktype = 'advisory' AND ((l.classid::bigint << 32) | l.objid::bigint) = s.session_lock");
        await Task.Delay(200);
        Assert.Equal(0L, await Db.ScalarAsync<long>(s.TargetAdmin, held));

        await s.Migrator().SetupFdwAsync();

        Assert.Equal(1L, await Db.ScalarAsync<long>(s.TargetAdmin, held));
    }

    [Fact]
    public async Task The_last_sessions_cleanup_drops_the_record_with_its_maps_unless_asked_to_keep_it()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1), (2)");
        await Db.ExecAsync(s.Databases.TargetMigrator, "CREATE TABLE t (id int PRIMARY KEY)");
        const string recordExists = "SELECT to_regnamespace('confiture') IS NOT NULL";
        var first = s.Migrator();
        await first.SetupFdwAsync();
        await first.MigrateAsync(new Confiture.Core.Migration.TableMigrationRequest { SourceTable = "t" }, Confiture.Core.Migration.MigrationStrategy.Fdw);
        var second = s.Migrator(new FdwSettings { ServerName = "second", ForeignSchema = "second_schema" });
        await second.SetupFdwAsync();

        await first.CleanupFdwAsync();
        Assert.True(await Db.ScalarAsync<bool>(s.TargetAdmin, recordExists), "another session is still recorded");
        await second.CleanupFdwAsync(keepRecord: true);
        Assert.True(await Db.ScalarAsync<bool>(s.TargetAdmin, recordExists), "asked to keep it");
        // The first session's cleanup forgot its own maps; the record stayed for the second.
        Assert.Equal(0L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM confiture.table_map"));

        await first.SetupFdwAsync();
        await first.CleanupFdwAsync();
        Assert.False(await Db.ScalarAsync<bool>(s.TargetAdmin, recordExists), "the last session's cleanup drops it");
        Assert.Equal(2L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM public.t"));
    }

    private static async Task<string> ReadLogAsync(string adminConnectionString, long from)
    {
        // The server writes its log as it goes; give the last lines a moment.
        await Task.Delay(300);
        return await Db.ScalarAsync<string>(adminConnectionString,
            $"SELECT pg_read_file('log', {from}, (pg_stat_file('log')).size - {from})");
    }
}
