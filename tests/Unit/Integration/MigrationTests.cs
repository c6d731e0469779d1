using Confiture.Core;
using Confiture.Core.Fdw;
using Confiture.Core.Migration;
using Confiture.Tests.Unit.Infrastructure;

namespace Confiture.Tests.Unit.Integration;

[Collection(ServerCollection.Name)]
public sealed class MigrationTests(ServerFixture fixture)
{
    public static TheoryData<MigrationStrategy> Strategies => [MigrationStrategy.Fdw, MigrationStrategy.Copy];

    private const string Users =
        """
        CREATE TABLE users (id bigint PRIMARY KEY, full_name text, email text, created_at timestamptz);
        INSERT INTO users SELECT g, 'User ' || g || ' Ærø', 'u' || g || '@example.com', '2024-01-01'::timestamptz + g * interval '1 minute'
        FROM generate_series(1, 500) g;
        """;

    [Theory]
    [MemberData(nameof(Strategies))]
    public async Task A_rename_and_subset_mapping_moves_exactly_the_mapped_values(MigrationStrategy strategy)
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, Users);
        await Db.ExecAsync(s.Databases.TargetMigrator, "CREATE TABLE users (id bigint PRIMARY KEY, display_name text NOT NULL, email text)");
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();

        var result = await migrator.MigrateAsync(new TableMigrationRequest
        {
            SourceTable = "users",
            ColumnMapping = [new("id", "id"), new("full_name", "display_name"), new("email", "email")],
        }, strategy);

        Assert.Equal(500, result.RowsMigrated);
        Assert.Equal(strategy, result.Strategy);
        Assert.Equal(["id", "full_name -> display_name", "email"], result.Columns.Select(c => c.ToString()));
        Assert.Equal(
            await Db.RowsAsync(s.SourceAdmin, "SELECT id, full_name, email FROM users ORDER BY id"),
            await Db.RowsAsync(s.TargetAdmin, "SELECT id, display_name, email FROM users ORDER BY id"));
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public async Task Every_common_type_and_null_arrives_identical(MigrationStrategy strategy)
    {
        await using var s = await Scenario.CreateAsync(fixture);
        const string types = "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');";
        const string table =
            """
            CREATE TABLE everything (
              id int PRIMARY KEY, small smallint, big bigint, num numeric(20,6), txt text, bin bytea, doc jsonb,
              ints int[], names text[], at timestamptz, day date, uid uuid, flag boolean, feeling mood, ratio float8, moods mood[]);
            """;
        await Db.ExecAsync(s.SourceAdmin, types + table +
            """
            INSERT INTO everything VALUES
              (1, -32768, 9223372036854775807, 12345678901234.123456, 'héllo wörld ✓ 日本', '\x00ff10'::bytea, '{"a": [1, 2, {"b": null}]}',
               '{1,NULL,3}', '{"x y","z\"q"}', '2024-02-29 23:59:59.999999+00', '2000-01-01', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', true, 'happy', 1.0e-300, '{sad,happy}'),
              (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
              (3, 0, 0, -0.000001, '', ''::bytea, '[]', '{}', '{}', '-infinity', 'infinity', '00000000-0000-0000-0000-000000000000', false, 'sad', 'NaN', '{}');
            """);
        await Db.ExecAsync(s.TargetAdmin, types + table + "ALTER TABLE everything OWNER TO confiture_migrator; ALTER TYPE mood OWNER TO confiture_migrator;");
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();

        var result = await migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "everything" }, strategy);

        Assert.Equal(3, result.RowsMigrated);
        const string snapshot = "SELECT everything::text FROM everything ORDER BY id";
        Assert.Equal(await Db.RowsAsync(s.SourceAdmin, snapshot), await Db.RowsAsync(s.TargetAdmin, snapshot));
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public async Task Quoted_names_for_schemas_tables_and_columns_stay_names(MigrationStrategy strategy)
    {
        await using var s = await Scenario.CreateAsync(fixture);
        const string ddl =
            """
            CREATE SCHEMA "Old Sales";
            CREATE TABLE "Old Sales"."Order ""Lines""; drop table x;--" ("Select" int PRIMARY KEY, "Mixed Case" text, "with space" text);
            """;
        await Db.ExecAsync(s.SourceAdmin, ddl + "INSERT INTO \"Old Sales\".\"Order \"\"Lines\"\"; drop table x;--\" VALUES (1, 'a', 'b'), (2, 'c', NULL)");
        await Db.ExecAsync(s.Databases.TargetMigrator,
            """"
            CREATE SCHEMA "New Sales";
            CREATE TABLE "New Sales"."Lines ""2""" ("Select" int PRIMARY KEY, "Renamed Col" text, "with space" text);
            """");
        var migrator = s.Migrator(new FdwSettings { SourceSchema = "Old Sales", ForeignSchema = "Foreign \"Sales\"" });
        await migrator.SetupFdwAsync();

        var result = await migrator.MigrateAsync(new TableMigrationRequest
        {
            SourceTable = "Order \"Lines\"; drop table x;--",
            TargetSchema = "New Sales",
            TargetTable = "Lines \"2\"",
            ColumnMapping = [new("Select", "Select"), new("Mixed Case", "Renamed Col"), new("with space", "with space")],
        }, strategy);

        Assert.Equal(2, result.RowsMigrated);
        Assert.Equal(["1 | a | b", "2 | c | NULL"], await Db.RowsAsync(s.TargetAdmin, "SELECT * FROM \"New Sales\".\"Lines \"\"2\"\"\" ORDER BY 1"));
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public async Task Widened_types_are_cast_so_the_target_accepts_them(MigrationStrategy strategy)
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin,
            """
            CREATE TABLE m (id int PRIMARY KEY, label varchar(50), amount numeric(30,10), happened date);
            INSERT INTO m VALUES (2147483647, 'max', 12345678901234567890.0123456789, '2024-01-02'), (-1, NULL, NULL, NULL);
            """);
        await Db.ExecAsync(s.Databases.TargetMigrator, "CREATE TABLE m (id bigint PRIMARY KEY, label text, amount numeric, happened timestamp)");
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();

        await migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "m" }, strategy);

        Assert.Equal(
            ["-1 | NULL | NULL | NULL", "2147483647 | max | 12345678901234567890.0123456789 | 2024-01-02 00:00:00"],
            await Db.RowsAsync(s.TargetAdmin, "SELECT id, label, amount::text, happened::text FROM m ORDER BY id"));
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public async Task A_target_with_rows_is_refused_unless_truncate_or_append(MigrationStrategy strategy)
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 10)");
        await Db.ExecAsync(s.Databases.TargetMigrator, "CREATE TABLE t (id int); INSERT INTO t VALUES (100)");
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();

        var refused = await Assert.ThrowsAsync<ConfitureException>(() => migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "t" }, strategy));
        Assert.Equal(ConfitureErrorKind.TargetNotEmpty, refused.Kind);
        Assert.Contains("-Truncate", refused.RecommendedAction, StringComparison.Ordinal);
        Assert.Equal(1L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM t"));

        await migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "t", Append = true }, strategy);
        Assert.Equal(11L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM t"));

        await migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "t", Truncate = true }, strategy);
        Assert.Equal(["10 | 1 | 10"], await Db.RowsAsync(s.TargetAdmin, "SELECT count(*), min(id), max(id) FROM t"));

        var both = await Assert.ThrowsAsync<ConfitureException>(() => migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "t", Append = true, Truncate = true }, strategy));
        Assert.Equal(ConfitureErrorKind.InvalidArgument, both.Kind);
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public async Task Identity_and_serial_sequences_move_past_the_migrated_values(MigrationStrategy strategy)
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE t (id bigint, code int, name text); INSERT INTO t SELECT g, g * 10, 'n' FROM generate_series(1, 250) g");
        await Db.ExecAsync(s.Databases.TargetMigrator, "CREATE TABLE t (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, code serial, name text)");
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();

        await migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "t" }, strategy);
        await Db.ExecAsync(s.Databases.TargetMigrator, "INSERT INTO t (name) VALUES ('new')");

        Assert.Equal(["251 | 2501"], await Db.RowsAsync(s.TargetAdmin, "SELECT id, code FROM t WHERE name = 'new'"));
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public async Task A_failure_halfway_leaves_the_target_as_it_was(MigrationStrategy strategy)
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE t (id int, v text); INSERT INTO t SELECT g, 'x' FROM generate_series(1, 20000) g; INSERT INTO t VALUES (15000, 'duplicate')");
        await Db.ExecAsync(s.Databases.TargetMigrator, "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (-1, 'kept')");
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();

        var error = await Assert.ThrowsAsync<ConfitureException>(() => migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "t", Truncate = true }, strategy));

        Assert.Equal(ConfitureErrorKind.MigrationFailed, error.Kind);
        Assert.Contains("rolled back", error.Message, StringComparison.Ordinal);
        Assert.Equal(["-1 | kept"], await Db.RowsAsync(s.TargetAdmin, "SELECT * FROM t"));
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public async Task Bad_mappings_are_refused_by_name_before_any_write(MigrationStrategy strategy)
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, Users);
        await Db.ExecAsync(s.Databases.TargetMigrator, "CREATE TABLE users (id bigint PRIMARY KEY, display_name text NOT NULL, email text)");
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();

        async Task<ConfitureException> Refused(params ColumnPair[] mapping) =>
            await Assert.ThrowsAsync<ConfitureException>(() => migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "users", ColumnMapping = mapping }, strategy));

        var unknown = await Refused(new("id", "id"), new("fullname", "display_name"));
        Assert.Equal(ConfitureErrorKind.ColumnNotFound, unknown.Kind);
        Assert.Contains("did you mean \"full_name\"?", unknown.Message, StringComparison.Ordinal);

        var unknownTarget = await Refused(new("id", "id"), new("full_name", "name"));
        Assert.Equal(ConfitureErrorKind.ColumnNotFound, unknownTarget.Kind);
        Assert.Contains("\"name\"", unknownTarget.Message, StringComparison.Ordinal);

        var duplicate = await Refused(new("id", "id"), new("full_name", "display_name"), new("email", "display_name"));
        Assert.Equal(ConfitureErrorKind.DuplicateTargetColumn, duplicate.Kind);

        var notNull = await Refused(new("id", "id"), new("email", "email"));
        Assert.Equal(ConfitureErrorKind.NotNullColumnUnmapped, notNull.Kind);
        Assert.Contains("\"display_name\"", notNull.Message, StringComparison.Ordinal);

        var empty = await Refused();
        Assert.Equal(ConfitureErrorKind.EmptyColumnMapping, empty.Kind);

        Assert.Equal(0L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM users"));
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public async Task A_missing_table_on_either_side_is_named(MigrationStrategy strategy)
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE only_source (id int)");
        await Db.ExecAsync(s.Databases.TargetMigrator, "CREATE TABLE only_target (id int)");
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();

        var noTarget = await Assert.ThrowsAsync<ConfitureException>(() => migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "only_source" }, strategy));
        var noSource = await Assert.ThrowsAsync<ConfitureException>(() => migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "only_target" }, strategy));

        Assert.Equal((ConfitureErrorKind.TableNotFound, ConfitureErrorKind.TableNotFound), (noTarget.Kind, noSource.Kind));
        Assert.Contains("only_source", noTarget.Message, StringComparison.Ordinal);
        Assert.Contains("only_target", noSource.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public async Task Cancelling_mid_copy_rolls_the_target_back(MigrationStrategy strategy)
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE big (id int, pad text); INSERT INTO big SELECT g, repeat('x', 200) FROM generate_series(1, 3000000) g");
        await Db.ExecAsync(s.Databases.TargetMigrator, "CREATE TABLE big (id int PRIMARY KEY, pad text)");
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();
        using var cancel = new CancellationTokenSource();
        var observer = new RecordingObserver { OnProgress = p => { if (p.RowsDone > 0) cancel.Cancel(); } };
        if (strategy == MigrationStrategy.Fdw)
        {
            // One INSERT ... SELECT reports no progress: cancel once it is under way.
            cancel.CancelAfter(TimeSpan.FromMilliseconds(700));
        }

        var clock = System.Diagnostics.Stopwatch.StartNew();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "big" }, strategy, observer, cancel.Token));

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"cancel took {clock.Elapsed}");
        Assert.Equal(0L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM big"));
        // The server finishes its rollback on its own clock: it must go idle within a few seconds.
        const string busy = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'";
        var idle = System.Diagnostics.Stopwatch.StartNew();
        while (await Db.ScalarAsync<long>(s.TargetAdmin, busy) > 0 && idle.Elapsed < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(100);
        }

        Assert.Equal(0L, await Db.ScalarAsync<long>(s.TargetAdmin, busy));
    }

    [Fact]
    public async Task A_copy_reads_one_snapshot_so_rows_added_meanwhile_are_not_half_seen()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE t (id int, pad text); INSERT INTO t SELECT g, repeat('y', 100) FROM generate_series(1, 400000) g");
        await Db.ExecAsync(s.Databases.TargetMigrator, "CREATE TABLE t (id int, pad text)");
        var migrator = s.Migrator();
        var inserted = 0;
        var observer = new RecordingObserver
        {
            OnProgress = p =>
            {
                if (p.RowsDone > 0 && Interlocked.Exchange(ref inserted, 1) == 0)
                {
                    Db.ExecAsync(s.SourceAdmin, "INSERT INTO t SELECT g, 'late' FROM generate_series(400001, 400100) g").GetAwaiter().GetResult();
                }
            },
        };

        var result = await migrator.MigrateTableCopyAsync(new TableMigrationRequest { SourceTable = "t" }, observer);

        Assert.Equal(1, inserted);
        Assert.Equal(400000, result.RowsMigrated);
        Assert.Equal(0L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM t WHERE pad = 'late'"));
        Assert.Equal(400100L, await Db.ScalarAsync<long>(s.SourceAdmin, "SELECT count(*) FROM t"));
    }
}
