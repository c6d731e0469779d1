using Confiture.Core;
using Confiture.Core.Fdw;
using Confiture.Tests.Unit.Infrastructure;
using Confiture.TestServers;

namespace Confiture.Tests.Unit.Integration;

[Collection(ServerCollection.Name)]
public sealed class FdwSetupTests(ServerFixture fixture)
{
    private const string ObjectsOnTarget =
        """
        SELECT (SELECT count(*) FROM pg_foreign_server)::text || '/' ||
               (SELECT count(*) FROM pg_user_mappings)::text || '/' ||
               (SELECT count(*) FROM pg_foreign_table)::text || '/' ||
               (SELECT count(*) FROM pg_namespace WHERE nspname = 'old_schema')::text
        """;

    [Fact]
    public async Task The_migration_role_sets_up_a_server_at_the_real_source_address_and_reads_through_it()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE users (id int PRIMARY KEY, full_name text); INSERT INTO users VALUES (1, 'Ada'), (2, 'Grace')");
        var migrator = s.Migrator();

        var plan = await migrator.SetupFdwAsync();

        Assert.Equal(["users"], plan.Tables);
        Assert.Equal(2L, await Db.ScalarAsync<long>(s.Databases.TargetMigrator, "SELECT count(*) FROM old_schema.users"));
        var options = await Db.ScalarAsync<string[]>(s.TargetAdmin, "SELECT srvoptions FROM pg_foreign_server WHERE srvname = 'confiture_source_server'");
        Assert.Contains($"host={s.Servers.Source.HostForPeer}", options);
        Assert.Contains($"port={s.Servers.Source.PortForPeer}", options);
        Assert.Contains($"dbname={s.Databases.SourceDatabase}", options);
        Assert.Contains($"fetch_size={FdwSettings.DefaultFetchSize}", options);
    }

    [Fact]
    public async Task A_superuser_target_creates_the_extension_itself()
    {
        await using var s = await Scenario.CreateAsync(fixture, grantMigrator: false);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE t (id int)");

        await s.Migrator(targetAsSuperuser: true).SetupFdwAsync();

        Assert.Equal(1L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM pg_extension WHERE extname = 'postgres_fdw'"));
        Assert.Equal(0L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM old_schema.t"));
    }

    [Fact]
    public async Task Running_setup_again_updates_options_and_reimports_cleanly()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE a (id int); CREATE TABLE b (id int)");
        await s.Migrator(new FdwSettings { Tables = ["a"] }).SetupFdwAsync();

        await Db.ExecAsync(s.SourceAdmin, "ALTER TABLE a ADD COLUMN note text");
        var again = await s.Migrator(new FdwSettings { FetchSize = 777 }).SetupFdwAsync();

        Assert.Equal(["a", "b"], again.Tables);
        Assert.Equal("1/1/2/1", await Db.ScalarAsync<string>(s.TargetAdmin, ObjectsOnTarget));
        Assert.Equal(1L, await Db.ScalarAsync<long>(s.TargetAdmin,
            "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'old_schema' AND table_name = 'a' AND column_name = 'note'"));
        var options = await Db.ScalarAsync<string[]>(s.TargetAdmin, "SELECT srvoptions FROM pg_foreign_server");
        Assert.Contains("fetch_size=777", options);
    }

    [Fact]
    public async Task A_foreign_schema_holding_real_tables_is_refused_and_nothing_changes()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE users (id int)");
        await Db.ExecAsync(s.Databases.TargetMigrator, "CREATE TABLE public.users (id int)");

        var error = await Assert.ThrowsAsync<ConfitureException>(() => s.Migrator(new FdwSettings { ForeignSchema = "public" }).SetupFdwAsync());

        Assert.Equal(ConfitureErrorKind.ForeignSchemaNotEmpty, error.Kind);
        Assert.Contains("table users", error.Message, StringComparison.Ordinal);
        Assert.Equal("0/0/0/0", await Db.ScalarAsync<string>(s.TargetAdmin, ObjectsOnTarget));
    }

    [Fact]
    public async Task A_server_of_the_same_name_that_Confiture_did_not_create_is_left_alone()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE t (id int)");
        await Db.ExecAsync(s.TargetAdmin, "CREATE SERVER confiture_source_server FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'elsewhere')");

        var error = await Assert.ThrowsAsync<ConfitureException>(() => s.Migrator(targetAsSuperuser: true).SetupFdwAsync());

        Assert.Equal(ConfitureErrorKind.ServerNotOwned, error.Kind);
        Assert.Equal(["host=elsewhere"], await Db.ScalarAsync<string[]>(s.TargetAdmin, "SELECT srvoptions FROM pg_foreign_server"));
    }

    [Fact]
    public async Task Cleanup_leaves_no_server_mapping_foreign_table_or_schema_and_can_run_twice()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE a (id int); CREATE TABLE b (id int)");
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();
        Assert.Equal("1/1/2/1", await Db.ScalarAsync<string>(s.TargetAdmin, ObjectsOnTarget));

        await migrator.CleanupFdwAsync();
        var second = await migrator.CleanupFdwAsync();

        Assert.Empty(second.Statements);
        Assert.Equal("0/0/0/0", await Db.ScalarAsync<string>(s.TargetAdmin, ObjectsOnTarget));
    }

    [Fact]
    public async Task Cleanup_keeps_a_foreign_schema_that_holds_something_else_and_says_what()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE a (id int)");
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();
        await Db.ExecAsync(s.Databases.TargetMigrator, "CREATE TABLE old_schema.keep_me (id int)");
        var observer = new RecordingObserver();

        await migrator.CleanupFdwAsync(observer);

        Assert.True(await Db.ScalarAsync<bool>(s.TargetAdmin, "SELECT to_regclass('old_schema.keep_me') IS NOT NULL"));
        Assert.Equal(0L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM pg_foreign_server"));
        Assert.Contains(observer.Warnings, w => w.Contains("keep_me", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Names_and_a_password_that_need_quoting_work_and_the_password_is_never_shown()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        const string table = "Order Lines\"; DROP TABLE x;--";
        await Db.ExecAsync(s.SourceAdmin, "CREATE SCHEMA \"Sales'Q1\"; CREATE TABLE \"Sales'Q1\".\"Order Lines\"\"; DROP TABLE x;--\" (id int); INSERT INTO \"Sales'Q1\".\"Order Lines\"\"; DROP TABLE x;--\" VALUES (7)");
        await Db.ExecAsync(s.SourceAdmin, $"GRANT USAGE ON SCHEMA \"Sales'Q1\" TO {TestRoles.MigratorUser}");
        var observer = new RecordingObserver();
        var migrator = new SchemaToSchemaMigrator(
            s.Endpoint(s.Databases.SourceMigrator), s.Endpoint(s.Databases.TargetMigrator),
            s.WithPeerAddress(new FdwSettings { SourceSchema = "Sales'Q1", ForeignSchema = "old \"sales\"", ServerName = "src; drop server x", Tables = [table] }));

        await migrator.SetupFdwAsync(observer);

        Assert.Equal(7, await Db.ScalarAsync<int>(s.Databases.TargetMigrator, "SELECT id FROM \"old \"\"sales\"\"\".\"Order Lines\"\"; DROP TABLE x;--\""));
        Assert.Contains(observer.Statements, st => st.Contains("USER MAPPING", StringComparison.Ordinal) && st.Contains("********", StringComparison.Ordinal));
        Assert.DoesNotContain(observer.Statements, st => st.Contains(TestRoles.MigratorPassword, StringComparison.Ordinal));
        await migrator.CleanupFdwAsync();
        Assert.Equal("0/0/0/0", await Db.ScalarAsync<string>(s.TargetAdmin, ObjectsOnTarget.Replace("'old_schema'", "'old \"sales\"'", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_plan_lists_the_statements_and_changes_nothing()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE a (id int)");

        var plan = await s.Migrator().PlanSetupFdwAsync();

        Assert.Contains(plan.Statements, st => st.Display.StartsWith("CREATE SERVER", StringComparison.Ordinal));
        Assert.Contains(plan.Statements, st => st.Display.StartsWith("IMPORT FOREIGN SCHEMA", StringComparison.Ordinal));
        Assert.Equal("0/0/0/0", await Db.ScalarAsync<string>(s.TargetAdmin, ObjectsOnTarget));
    }

    [Fact]
    public async Task A_non_superuser_without_the_extension_is_told_what_a_superuser_must_run()
    {
        await using var s = await Scenario.CreateAsync(fixture, grantMigrator: false);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE a (id int)");
        await Db.ExecAsync(s.TargetAdmin, $"GRANT CREATE ON DATABASE \"{s.Databases.TargetDatabase}\" TO {TestRoles.MigratorUser}");

        var error = await Assert.ThrowsAsync<ConfitureException>(() => s.Migrator().SetupFdwAsync());

        Assert.Equal(ConfitureErrorKind.FdwExtensionMissing, error.Kind);
        Assert.Contains("CREATE EXTENSION postgres_fdw", error.RecommendedAction, StringComparison.Ordinal);
        Assert.Contains($"GRANT USAGE ON FOREIGN DATA WRAPPER postgres_fdw TO \"{TestRoles.MigratorUser}\"", error.RecommendedAction, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_non_superuser_without_usage_on_the_wrapper_is_told_the_grant()
    {
        await using var s = await Scenario.CreateAsync(fixture, grantMigrator: false);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE a (id int)");
        await Db.ExecAsync(s.TargetAdmin, "CREATE EXTENSION postgres_fdw");

        var error = await Assert.ThrowsAsync<ConfitureException>(() => s.Migrator().SetupFdwAsync());

        Assert.Equal(ConfitureErrorKind.FdwUsageDenied, error.Kind);
        Assert.Equal("0/0/0/0", await Db.ScalarAsync<string>(s.TargetAdmin, ObjectsOnTarget));
    }

    [Fact]
    public async Task A_missing_source_table_is_named_before_the_target_changes()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE a (id int)");

        var error = await Assert.ThrowsAsync<ConfitureException>(() => s.Migrator(new FdwSettings { Tables = ["a", "nope"] }).SetupFdwAsync());

        Assert.Equal(ConfitureErrorKind.TableNotFound, error.Kind);
        Assert.Contains("\"nope\"", error.Message, StringComparison.Ordinal);
        Assert.Equal("0/0/0/0", await Db.ScalarAsync<string>(s.TargetAdmin, ObjectsOnTarget));
    }

    public static TheoryData<string> LongNames => new()
    {
        "ServerName", "ForeignSchema", "SourceSchema", "Table",
    };

    [Theory]
    [MemberData(nameof(LongNames))]
    public async Task A_name_PostgreSQL_would_cut_at_63_bytes_is_refused_before_anything_is_created(string which)
    {
        await using var s = await Scenario.CreateAsync(fixture);
        // 32 characters but 64 bytes: the limit is in bytes, not characters.
        var name = new string('é', 32);
        await Db.ExecAsync(s.SourceAdmin, $"CREATE TABLE a (id int); CREATE SCHEMA \"{name[..31]}\"");
        var settings = which switch
        {
            "ServerName" => new FdwSettings { ServerName = name },
            "ForeignSchema" => new FdwSettings { ForeignSchema = name },
            "SourceSchema" => new FdwSettings { SourceSchema = name },
            _ => new FdwSettings { Tables = ["a", name] },
        };

        var error = await Assert.ThrowsAsync<ConfitureException>(async () => await s.Migrator(settings).SetupFdwAsync());

        Assert.Equal(ConfitureErrorKind.InvalidArgument, error.Kind);
        Assert.Contains(which, error.Message, StringComparison.Ordinal);
        Assert.Contains("63 bytes", error.Message, StringComparison.Ordinal);
        Assert.Equal("0/0/0/0", await Db.ScalarAsync<string>(s.TargetAdmin, ObjectsOnTarget));
    }

    [Fact]
    public async Task A_name_of_exactly_63_bytes_is_set_up_and_cleaned_up_whole()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE a (id int)");
        var name = new string('é', 31) + "x";
        var migrator = s.Migrator(new FdwSettings { ServerName = name, ForeignSchema = name });

        await migrator.SetupFdwAsync();
        Assert.Equal(name, await Db.ScalarAsync<string>(s.TargetAdmin, "SELECT srvname::text FROM pg_foreign_server"));
        await migrator.CleanupFdwAsync();

        Assert.Equal("0/0/0/0", await Db.ScalarAsync<string>(s.TargetAdmin, ObjectsOnTarget));
        Assert.Equal(0L, await Db.ScalarAsync<long>(s.TargetAdmin, $"SELECT count(*) FROM pg_namespace WHERE nspname = '{name}'"));
    }
}
