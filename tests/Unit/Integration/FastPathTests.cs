using Confiture.Core;
using Confiture.Core.Migration;
using Confiture.Tests.Unit.Infrastructure;

namespace Confiture.Tests.Unit.Integration;

[Collection(ServerCollection.Name)]
public sealed class FastPathTests(ServerFixture fixture)
{
    public static TheoryData<MigrationStrategy> Strategies => [MigrationStrategy.Fdw, MigrationStrategy.Copy];

    private const string Definitions =
        """
        SELECT coalesce(string_agg(d, E'\n' ORDER BY d), '') FROM (
          SELECT pg_get_indexdef(indexrelid) AS d FROM pg_index WHERE indrelid = 'accounts'::regclass
          UNION ALL
          SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
          WHERE conrelid = 'accounts'::regclass OR confrelid = 'accounts'::regclass) s
        """;

    private const string TargetAccounts =
        """
        CREATE TABLE accounts (
          id bigint PRIMARY KEY, email text NOT NULL, parent bigint, balance numeric,
          CONSTRAINT accounts_email_key UNIQUE (email),
          CONSTRAINT accounts_parent_fk FOREIGN KEY (parent) REFERENCES accounts (id) DEFERRABLE INITIALLY DEFERRED);
        CREATE INDEX accounts_lower_email ON accounts (lower(email));
        CREATE INDEX accounts_rich ON accounts (balance) WHERE balance > 1000;
        CREATE TABLE payments (id int PRIMARY KEY, account bigint REFERENCES accounts (id));
        """;

    [Theory]
    [MemberData(nameof(Strategies))]
    public async Task DeferIndexes_rebuilds_every_index_and_constraint_with_the_same_definition(MigrationStrategy strategy)
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin,
            "CREATE TABLE accounts (id bigint, email text, parent bigint, balance numeric); " +
            "INSERT INTO accounts SELECT g, 'a' || g || '@x', CASE WHEN g > 1 THEN g - 1 END, g * 3 FROM generate_series(1, 5000) g");
        await Db.ExecAsync(s.Databases.TargetMigrator, TargetAccounts);
        var before = await Db.ScalarAsync<string>(s.TargetAdmin, Definitions);
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();

        var result = await migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "accounts", DeferIndexes = true }, strategy);

        Assert.Equal(5000, result.RowsMigrated);
        Assert.Equal(before, await Db.ScalarAsync<string>(s.TargetAdmin, Definitions));
        Assert.Contains("accounts_parent_fk", before, StringComparison.Ordinal);
        Assert.Contains("payments_account_fkey", before, StringComparison.Ordinal);
        Assert.Equal(["5000 | 5000"], await Db.RowsAsync(s.TargetAdmin, "SELECT count(*), count(DISTINCT email) FROM accounts"));
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public async Task DeferIndexes_restores_indexes_and_rows_when_the_rebuild_fails(MigrationStrategy strategy)
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin,
            "CREATE TABLE accounts (id bigint, email text, parent bigint, balance numeric); " +
            "INSERT INTO accounts SELECT g, 'a' || g || '@x', NULL, g FROM generate_series(1, 3000) g; INSERT INTO accounts VALUES (3001, 'a7@x', NULL, 0)");
        await Db.ExecAsync(s.Databases.TargetMigrator, TargetAccounts + "INSERT INTO accounts VALUES (-5, 'old@x', NULL, 1)");
        var before = await Db.ScalarAsync<string>(s.TargetAdmin, Definitions);
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();

        var error = await Assert.ThrowsAsync<ConfitureException>(() =>
            migrator.MigrateAsync(new TableMigrationRequest { SourceTable = "accounts", DeferIndexes = true, Truncate = true }, strategy));

        Assert.Equal(ConfitureErrorKind.MigrationFailed, error.Kind);
        Assert.Contains("accounts_email_key", error.Message, StringComparison.Ordinal);
        Assert.Equal(before, await Db.ScalarAsync<string>(s.TargetAdmin, Definitions));
        Assert.Equal(["-5 | old@x"], await Db.RowsAsync(s.TargetAdmin, "SELECT id, email FROM accounts"));
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public async Task DeferIndexes_checks_the_keys_to_parents_once_after_the_rows_and_refuses_an_orphan_leaving_the_target_as_it_was(MigrationStrategy strategy)
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin,
            "CREATE TABLE payments (id int, account bigint); INSERT INTO payments SELECT g, g % 50 + 1 FROM generate_series(1, 4000) g");
        await Db.ExecAsync(s.Databases.TargetMigrator, TargetAccounts +
            "INSERT INTO accounts SELECT g, 'a' || g || '@x', NULL, 0 FROM generate_series(1, 50) g; INSERT INTO payments VALUES (-1, 7)");
        const string keys = "SELECT conname || ' ' || pg_get_constraintdef(oid) || ' ' || convalidated FROM pg_constraint WHERE conrelid = 'payments'::regclass ORDER BY conname";
        var before = await Db.RowsAsync(s.TargetAdmin, keys);
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();
        var request = new TableMigrationRequest { SourceTable = "payments", DeferIndexes = true, Truncate = true };

        var plan = await migrator.PlanMigrationAsync(request, strategy);
        Assert.Contains(plan, l => l.Contains("DROP CONSTRAINT", StringComparison.Ordinal) && l.Contains("payments_account_fkey", StringComparison.Ordinal));
        Assert.Contains(plan, l => l.Contains("LOCK TABLE public.accounts IN ACCESS EXCLUSIVE MODE", StringComparison.Ordinal));
        var result = await migrator.MigrateAsync(request, strategy);

        Assert.Equal(4000, result.RowsMigrated);
        Assert.Equal(before, await Db.RowsAsync(s.TargetAdmin, keys));
        Assert.Contains(before, k => k.StartsWith("payments_account_fkey FOREIGN KEY (account) REFERENCES accounts(id) true", StringComparison.Ordinal));

        await Db.ExecAsync(s.SourceAdmin, "INSERT INTO payments VALUES (4001, 999)");
        var error = await Assert.ThrowsAsync<ConfitureException>(() => migrator.MigrateAsync(request, strategy));

        Assert.Contains("payments_account_fkey", error.Message, StringComparison.Ordinal);
        Assert.Equal(before, await Db.RowsAsync(s.TargetAdmin, keys));
        Assert.Equal(["4000 | 1 | 4000"], await Db.RowsAsync(s.TargetAdmin, "SELECT count(*), min(id), max(id) FROM payments"));
    }

    [Fact]
    public async Task DeferIndexes_refuses_append()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE t (id int)");
        await Db.ExecAsync(s.Databases.TargetMigrator, "CREATE TABLE t (id int PRIMARY KEY)");

        var error = await Assert.ThrowsAsync<ConfitureException>(() =>
            s.Migrator().MigrateTableCopyAsync(new TableMigrationRequest { SourceTable = "t", DeferIndexes = true, Append = true }));

        Assert.Equal(ConfitureErrorKind.InvalidArgument, error.Kind);
    }

    [Theory]
    [InlineData("id bigint PRIMARY KEY", 4)]
    [InlineData("id bigint", 3)]
    public async Task Parallel_parts_give_the_same_content_as_one_stream(string idColumn, int parts)
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin,
            $"CREATE TABLE p ({idColumn}, v text, n numeric); INSERT INTO p SELECT g, md5(g::text), g / 7.0 FROM generate_series(-500, 60000) g");
        await Db.ExecAsync(s.Databases.TargetMigrator, "CREATE TABLE p (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, v text, n numeric)");
        var migrator = s.Migrator();

        var result = await migrator.MigrateTableCopyAsync(new TableMigrationRequest { SourceTable = "p", Parallel = parts, DeferIndexes = true });

        Assert.Equal(60501, result.RowsMigrated);
        const string digest = "SELECT count(*), sum(hashtext(id || v || n)) FROM p";
        Assert.Equal(await Db.RowsAsync(s.SourceAdmin, digest), await Db.RowsAsync(s.TargetAdmin, digest));
        Assert.Equal(60001L, await Db.ScalarAsync<long>(s.Databases.TargetMigrator, "INSERT INTO p (v, n) VALUES ('new', 0) RETURNING id"));
    }

    [Fact]
    public async Task Parallel_parts_read_one_snapshot_so_rows_added_meanwhile_are_not_half_seen()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE p (id int PRIMARY KEY, pad text); INSERT INTO p SELECT g, repeat('z', 200) FROM generate_series(1, 300000) g");
        await Db.ExecAsync(s.Databases.TargetMigrator, "CREATE TABLE p (id int PRIMARY KEY, pad text)");
        var inserted = 0;
        var observer = new RecordingObserver
        {
            OnProgress = p =>
            {
                if (p.RowsDone > 0 && Interlocked.Exchange(ref inserted, 1) == 0)
                {
                    // New rows at both ends of the key range, and a change in the middle: none may show up.
                    Db.ExecAsync(s.SourceAdmin, "INSERT INTO p VALUES (0, 'late'), (300001, 'late'); UPDATE p SET pad = 'late' WHERE id = 150000").GetAwaiter().GetResult();
                }
            },
        };

        var result = await s.Migrator().MigrateTableCopyAsync(new TableMigrationRequest { SourceTable = "p", Parallel = 3 }, observer);

        Assert.Equal(1, inserted);
        Assert.Equal(300000, result.RowsMigrated);
        Assert.Equal(0L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM p WHERE pad = 'late'"));
        Assert.Equal(300000L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM p"));
    }

    [Fact]
    public async Task A_failed_parallel_copy_leaves_the_target_empty_with_its_indexes()
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin,
            "CREATE TABLE accounts (id bigint, email text, parent bigint, balance numeric); " +
            "INSERT INTO accounts SELECT g, 'a' || g || '@x', NULL, g FROM generate_series(1, 20000) g; UPDATE accounts SET email = 'a1@x' WHERE id = 19000");
        await Db.ExecAsync(s.Databases.TargetMigrator, TargetAccounts + "INSERT INTO accounts VALUES (-5, 'old@x', NULL, 1)");
        var before = await Db.ScalarAsync<string>(s.TargetAdmin, Definitions);

        var error = await Assert.ThrowsAsync<ConfitureException>(() => s.Migrator().MigrateTableCopyAsync(
            new TableMigrationRequest { SourceTable = "accounts", Parallel = 2, Truncate = true, DeferIndexes = true }));

        Assert.Equal(ConfitureErrorKind.MigrationFailed, error.Kind);
        Assert.Contains("empty", error.Message, StringComparison.Ordinal);
        Assert.Contains("accounts_email_key", error.Message, StringComparison.Ordinal);
        Assert.Equal([], await Db.RowsAsync(s.TargetAdmin, "SELECT * FROM accounts"));
        Assert.Equal(before, await Db.ScalarAsync<string>(s.TargetAdmin, Definitions));
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public async Task A_plan_names_every_statement_and_writes_nothing(MigrationStrategy strategy)
    {
        await using var s = await Scenario.CreateAsync(fixture);
        await Db.ExecAsync(s.SourceAdmin, "CREATE TABLE accounts (id bigint, email text, parent bigint, balance numeric); INSERT INTO accounts VALUES (1, 'a', NULL, 1)");
        await Db.ExecAsync(s.Databases.TargetMigrator, TargetAccounts);
        var migrator = s.Migrator();
        await migrator.SetupFdwAsync();

        var statements = await migrator.PlanMigrationAsync(new TableMigrationRequest { SourceTable = "accounts", Truncate = true, DeferIndexes = true }, strategy);

        Assert.StartsWith("ALTER TABLE public.accounts DROP CONSTRAINT \"accounts_parent_fk\"", statements[0], StringComparison.Ordinal);
        Assert.Contains("ALTER TABLE public.payments DROP CONSTRAINT \"payments_account_fkey\"", statements);
        Assert.Contains("TRUNCATE \"public\".\"accounts\"", statements);
        Assert.Contains(statements, st => st.Contains(strategy == MigrationStrategy.Fdw ? "INSERT INTO \"public\".\"accounts\"" : "COPY \"public\".\"accounts\"", StringComparison.Ordinal));
        Assert.Contains(statements, st => st.StartsWith("DROP INDEX", StringComparison.Ordinal));
        Assert.Contains(statements, st => st.StartsWith("CREATE INDEX accounts_rich", StringComparison.Ordinal));
        Assert.Equal(0L, await Db.ScalarAsync<long>(s.TargetAdmin, "SELECT count(*) FROM accounts"));
    }
}
