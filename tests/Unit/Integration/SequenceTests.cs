using Confiture.Core;
using Confiture.Core.Migration;
using Confiture.Tests.Unit.Infrastructure;

namespace Confiture.Tests.Unit.Integration;

/// <summary>
/// After cutover the application inserts with DEFAULT: every sequence a target column draws from
/// must hand out ids no table holds yet, whether it is identity, OWNED BY, or only named in a
/// column default, and however many tables share it.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class SequenceTests(ServerFixture fixture)
{
    public static TheoryData<MigrationStrategy> Strategies => [MigrationStrategy.Fdw, MigrationStrategy.Copy];

    [Theory]
    [MemberData(nameof(Strategies))]
    public async Task A_legacy_nextval_default_not_owned_by_its_column_gives_fresh_ids(MigrationStrategy strategy)
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE legacy (id int PRIMARY KEY, name text); INSERT INTO legacy SELECT g, 'n' || g FROM generate_series(1, 300) g");
        await Db.ExecAsync(s.Databases.TargetMigrator,
            "CREATE SEQUENCE legacy_id_seq; CREATE TABLE legacy (id int NOT NULL DEFAULT nextval('legacy_id_seq'::regclass) PRIMARY KEY, name text)");
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();
        Assert.True(await Db.ScalarAsync<bool>(s.TargetAdmin, "SELECT pg_get_serial_sequence('legacy', 'id') IS NULL"));

        var plan = await migrator.PlanMigrationAsync(new TableMigrationRequest { SourceTable = "legacy" }, strategy);
        Assert.Contains(plan, line => line.StartsWith("SELECT setval('\"public\".\"legacy_id_seq\"'::regclass", StringComparison.Ordinal));

        await migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "legacy" }, strategy);
        await Db.ExecAsync(s.Databases.TargetMigrator, "INSERT INTO legacy (name) VALUES ('new')");

        Assert.Equal(["301"], await Db.RowsAsync(s.TargetAdmin, "SELECT id FROM legacy WHERE name = 'new'"));
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public async Task A_sequence_shared_by_tables_ends_past_all_of_them_and_never_goes_back(MigrationStrategy strategy)
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin,
            """
            CREATE TABLE a (id bigint PRIMARY KEY, v text); INSERT INTO a SELECT g, 'a' FROM generate_series(1, 100) g;
            CREATE TABLE b (id bigint PRIMARY KEY, v text); INSERT INTO b SELECT g, 'b' FROM generate_series(1001, 2000) g;
            """);
        // c is not migrated, but already holds an id the sequence handed out long ago.
        await Db.ExecAsync(s.Databases.TargetMigrator,
            """
            CREATE SEQUENCE shared_seq;
            CREATE TABLE a (id bigint NOT NULL DEFAULT nextval('shared_seq') PRIMARY KEY, v text);
            CREATE TABLE b (id bigint NOT NULL DEFAULT nextval('shared_seq') PRIMARY KEY, v text);
            CREATE TABLE c (id bigint NOT NULL DEFAULT nextval('shared_seq') PRIMARY KEY, v text);
            INSERT INTO c VALUES (700, 'c');
            """);
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();

        var plan = await migrator.PlanMigrationAsync(new TableMigrationRequest { SourceTable = "a" }, strategy);
        var setval = Assert.Single(plan, line => line.Contains("setval(", StringComparison.Ordinal));
        Assert.Contains("FROM \"public\".\"b\"", setval, StringComparison.Ordinal);
        Assert.Contains("FROM \"public\".\"c\"", setval, StringComparison.Ordinal);

        await migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "a" }, strategy);
        Assert.Equal(700L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT last_value FROM shared_seq"));

        await migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "b" }, strategy);
        Assert.Equal(2000L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT last_value FROM shared_seq"));

        // a's values are far below where the sequence is now: replacing them must not move it back.
        await migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "a", Truncate = true }, strategy);
        Assert.Equal(2000L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT last_value FROM shared_seq"));

        await Db.ExecAsync(s.Databases.TargetMigrator, "INSERT INTO a (v) VALUES ('new a'); INSERT INTO b (v) VALUES ('new b'); INSERT INTO c (v) VALUES ('new c')");
        Assert.Equal(["2001 | new a", "2002 | new b", "2003 | new c"],
            await Db.RowsAsync(s.TargetAdmin, "SELECT id, v FROM (SELECT * FROM a UNION ALL SELECT * FROM b UNION ALL SELECT * FROM c) u WHERE v LIKE 'new%' ORDER BY id"));
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public async Task A_partitioned_table_with_a_nextval_default_gives_fresh_ids_in_every_partition(MigrationStrategy strategy)
    {
        await using var s = await Scenario.CreateAsync(fixture);
        const string partitioned =
            """
            CREATE TABLE m_2024 PARTITION OF m FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
            CREATE TABLE m_2025 PARTITION OF m FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
            """;
        await Db.ExecAsync(s.SourceAdmin,
            "CREATE TABLE m (id bigint NOT NULL, at date NOT NULL, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);" + partitioned +
            "INSERT INTO m SELECT g, date '2024-01-01' + g FROM generate_series(1, 400) g");
        await Db.ExecAsync(s.Databases.TargetMigrator,
            "CREATE SEQUENCE m_id_seq; CREATE TABLE m (id bigint NOT NULL DEFAULT nextval('m_id_seq'), at date NOT NULL, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);" + partitioned);
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();

        var plan = await migrator.PlanMigrationAsync(new TableMigrationRequest { SourceTable = "m" }, strategy);
        var setval = Assert.Single(plan, line => line.Contains("setval(", StringComparison.Ordinal));
        Assert.Contains("'\"public\".\"m_id_seq\"'::regclass", setval, StringComparison.Ordinal);

        await migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "m" }, strategy);
        await Db.ExecAsync(s.Databases.TargetMigrator, "INSERT INTO m (at) VALUES ('2024-06-01'); INSERT INTO m_2025 (at) VALUES ('2025-06-01')");

        Assert.Equal(["401 | m_2024", "402 | m_2025"],
            await Db.RowsAsync(s.TargetAdmin, "SELECT id, tableoid::regclass::text FROM m WHERE id > 400 ORDER BY id"));
    }

    [Fact]
    public async Task A_descending_sequence_ends_below_the_smallest_value()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE d (id int PRIMARY KEY); INSERT INTO d SELECT -g FROM generate_series(1, 50) g");
        await Db.ExecAsync(s.Databases.TargetMigrator,
            "CREATE SEQUENCE down_seq INCREMENT -1 MAXVALUE -1 START -1; CREATE TABLE d (id int NOT NULL DEFAULT nextval('down_seq') PRIMARY KEY)");
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();

        await migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "d" }, MigrationStrategy.Copy);
        await Db.ExecAsync(s.Databases.TargetMigrator, "INSERT INTO d DEFAULT VALUES");

        Assert.Equal(["-51"], await Db.RowsAsync(s.TargetAdmin, "SELECT min(id) FROM d"));
    }

    [Fact]
    public async Task A_sequence_that_starts_beyond_the_values_is_not_moved_back()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT g FROM generate_series(1, 50) g");
        await Db.ExecAsync(s.Databases.TargetMigrator,
            "CREATE SEQUENCE t_seq START 1000; CREATE TABLE t (id int NOT NULL DEFAULT nextval('t_seq') PRIMARY KEY)");
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();

        await migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "t" }, MigrationStrategy.Fdw);
        await Db.ExecAsync(s.Databases.TargetMigrator, "INSERT INTO t DEFAULT VALUES");

        Assert.Equal(["1000"], await Db.RowsAsync(s.TargetAdmin, "SELECT max(id) FROM t"));
    }

    [Fact]
    public async Task A_shared_sequence_over_a_table_the_role_cannot_read_is_refused_before_any_write()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE a (id bigint PRIMARY KEY); INSERT INTO a SELECT g FROM generate_series(1, 10) g");
        await Db.ExecAsync(s.Databases.TargetMigrator, "CREATE SEQUENCE shared_seq; CREATE TABLE a (id bigint NOT NULL DEFAULT nextval('shared_seq') PRIMARY KEY)");
        await Db.ExecAsync(s.TargetAdmin, "CREATE TABLE hidden (id bigint NOT NULL DEFAULT nextval('shared_seq') PRIMARY KEY); INSERT INTO hidden VALUES (5000)");
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();

        var error = await Assert.ThrowsAsync<ConfitureException>(() => migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "a" }, MigrationStrategy.Copy));

        Assert.Equal(ConfitureErrorKind.PermissionDenied, error.Kind);
        Assert.Contains("\"public\".\"hidden\"", error.Message, StringComparison.Ordinal);
        Assert.Contains("GRANT SELECT", error.RecommendedAction, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(0L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM a"));
    }

    [Fact]
    public async Task A_load_does_not_wait_for_a_table_that_shares_its_sequence_and_is_being_replaced()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE a (id bigint PRIMARY KEY); INSERT INTO a SELECT g FROM generate_series(1, 100) g");
        await Db.ExecAsync(s.Databases.TargetMigrator,
            """
            CREATE SEQUENCE shared_seq;
            CREATE TABLE a (id bigint NOT NULL DEFAULT nextval('shared_seq') PRIMARY KEY);
            CREATE TABLE b (id bigint NOT NULL DEFAULT nextval('shared_seq') PRIMARY KEY);
            """);
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();

        // Another load replacing b holds it until it commits, and will read a when it finishes.
        await using var other = new Npgsql.NpgsqlConnection(s.TargetAdmin);
        await other.OpenAsync();
        await using var replacing = await other.BeginTransactionAsync();
        await using (var truncate = new Npgsql.NpgsqlCommand("TRUNCATE b; INSERT INTO b SELECT g FROM generate_series(1, 5000) g", other, replacing))
        {
            await truncate.ExecuteNonQueryAsync();
        }

        var observer = new RecordingObserver();
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "a" }, MigrationStrategy.Copy, observer, patience.Token);
        await replacing.CommitAsync();

        var warning = Assert.Single(observer.Warnings);
        Assert.Contains("\"public\".\"b\"", warning, StringComparison.Ordinal);
        Assert.Equal(100L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT last_value FROM shared_seq"));
    }

    [Fact]
    public async Task A_legacy_numeric_id_is_moved_past_and_a_text_built_from_nextval_is_a_warning()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin,
            "CREATE TABLE invoices (id numeric(12,0) PRIMARY KEY, code text NOT NULL); INSERT INTO invoices SELECT g, 'INV-' || g FROM generate_series(1, 40) g");
        await Db.ExecAsync(s.Databases.TargetMigrator,
            """
            CREATE SEQUENCE invoices_id_seq; CREATE SEQUENCE invoice_code_seq;
            CREATE TABLE invoices (id numeric(12,0) NOT NULL DEFAULT nextval('invoices_id_seq') PRIMARY KEY,
                                   code text NOT NULL DEFAULT 'INV-' || nextval('invoice_code_seq'));
            """);
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();
        var observer = new RecordingObserver();

        await migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "invoices" }, MigrationStrategy.Copy, observer);
        await Db.ExecAsync(s.Databases.TargetMigrator, "INSERT INTO invoices (code) VALUES ('manual')");

        Assert.Equal(["41"], await Db.RowsAsync(s.TargetAdmin, "SELECT id FROM invoices WHERE code = 'manual'"));
        var warning = Assert.Single(observer.Warnings);
        Assert.Contains("\"code\"", warning, StringComparison.Ordinal);
        Assert.Contains("\"public\".\"invoice_code_seq\"", warning, StringComparison.Ordinal);
        Assert.Contains("set it yourself", warning, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Hostile_sequence_and_table_names_stay_names()
    {
        const string table = "t'; drop table x;--";
        const string quotedTable = "\"t'; drop table x;--\"";
        // Schema: odd "schema"; sequence: seq 'q' \x; the default names it as a regclass literal.
        const string sequence = "\"odd \"\"schema\"\"\".\"seq 'q' \\x\"";
        const string sequenceLiteral = "'\"odd \"\"schema\"\"\".\"seq ''q'' \\x\"'";
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, $"CREATE TABLE {quotedTable} (id int PRIMARY KEY); INSERT INTO {quotedTable} SELECT g FROM generate_series(1, 25) g");
        await Db.ExecAsync(s.Databases.TargetMigrator,
            "CREATE SCHEMA \"odd \"\"schema\"\"\"; " +
            $"CREATE SEQUENCE {sequence}; " +
            $"CREATE TABLE {quotedTable} (id int NOT NULL DEFAULT nextval({sequenceLiteral}) PRIMARY KEY); " +
            $"CREATE TABLE \"other \"\"one\"\"\" (id int NOT NULL DEFAULT nextval({sequenceLiteral}) PRIMARY KEY); " +
            "INSERT INTO \"other \"\"one\"\"\" VALUES (90);");
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();

        foreach (var strategy in new[] { MigrationStrategy.Fdw, MigrationStrategy.Copy })
        {
            await migrator.MigrateAsync(new TableMigrationRequest { SourceTable = table, Truncate = true }, strategy);
        }

        await Db.ExecAsync(s.Databases.TargetMigrator, $"INSERT INTO {quotedTable} DEFAULT VALUES");
        Assert.Equal(["91"], await Db.RowsAsync(s.TargetAdmin, $"SELECT max(id) FROM {quotedTable}"));
        Assert.Equal(1L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM \"other \"\"one\"\"\""));
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public async Task A_sequence_too_small_for_the_migrated_values_is_a_clear_error_and_nothing_is_written(MigrationStrategy strategy)
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT g FROM generate_series(1, 50) g");
        await Db.ExecAsync(s.Databases.TargetMigrator, "CREATE SEQUENCE t_seq MAXVALUE 20; CREATE TABLE t (id int NOT NULL DEFAULT nextval('t_seq') PRIMARY KEY)");
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();

        var error = await Assert.ThrowsAsync<ConfitureException>(() => migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "t" }, strategy));

        Assert.Equal(ConfitureErrorKind.MigrationFailed, error.Kind);
        Assert.Contains("The sequence \"public\".\"t_seq\" cannot be moved past", error.Message, StringComparison.Ordinal);
        Assert.Contains("the load was undone", error.Message, StringComparison.Ordinal);
        Assert.Contains("ALTER SEQUENCE \"public\".\"t_seq\"", error.RecommendedAction, StringComparison.Ordinal);
        Assert.Equal(0L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM t"));
    }
    [Theory]
    [MemberData(nameof(Strategies))]
    public async Task A_default_that_names_its_sequence_as_text_gives_fresh_ids(MigrationStrategy strategy)
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE old_style (id int PRIMARY KEY); INSERT INTO old_style SELECT g FROM generate_series(1, 70) g");
        // As schemas carried over from PostgreSQL 8.0 have it: no dependency on the sequence is recorded.
        await Db.ExecAsync(s.Databases.TargetMigrator,
            "CREATE SEQUENCE \"Old Style's seq\"; CREATE TABLE old_style (id int NOT NULL DEFAULT nextval(('\"Old Style''s seq\"'::text)::regclass) PRIMARY KEY)");
        Assert.Equal(0L, await Db.ScalarAsync<long>(s.TargetAdmin,
            "SELECT count(*) FROM pg_depend d JOIN pg_attrdef ad ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid " +
            "JOIN pg_class c ON d.refclassid = 'pg_class'::regclass AND c.oid = d.refobjid AND c.relkind = 'S' WHERE ad.adrelid = 'old_style'::regclass"));
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();

        await migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "old_style" }, strategy);
        await Db.ExecAsync(s.Databases.TargetMigrator, "INSERT INTO old_style DEFAULT VALUES");

        Assert.Equal(["71"], await Db.RowsAsync(s.TargetAdmin, "SELECT max(id) FROM old_style"));
    }
}
