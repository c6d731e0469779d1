using Npgsql;

namespace Confiture.TestServers;

/// <summary>
/// A fresh database on the source server and one on the target server, for one test, dropped afterwards.
/// </summary>
public sealed class TestDatabasePair : IAsyncDisposable
{
    private const string NamePrefix = "confiture_test_";

    private readonly TestServerPair _servers;
    private int _disposed;

    private TestDatabasePair(TestServerPair servers, string sourceDatabase, string targetDatabase)
    {
        _servers = servers;
        SourceDatabase = sourceDatabase;
        TargetDatabase = targetDatabase;
        SourceAdmin = ConnectionStrings.WithDatabase(servers.Source.AdminConnectionString, sourceDatabase);
        TargetAdmin = ConnectionStrings.WithDatabase(servers.Target.AdminConnectionString, targetDatabase);
        SourceMigrator = ConnectionStrings.WithLogin(
            servers.Source.AdminConnectionString, sourceDatabase, TestRoles.MigratorUser, TestRoles.MigratorPassword);
        TargetMigrator = ConnectionStrings.WithLogin(
            servers.Target.AdminConnectionString, targetDatabase, TestRoles.MigratorUser, TestRoles.MigratorPassword);
    }

    public string SourceDatabase { get; }

    public string TargetDatabase { get; }

    /// <summary>Superuser connection string to <see cref="SourceDatabase"/>.</summary>
    public string SourceAdmin { get; }

    /// <summary>Superuser connection string to <see cref="TargetDatabase"/>.</summary>
    public string TargetAdmin { get; }

    /// <summary>Connection string of <see cref="TestRoles.MigratorUser"/> to <see cref="SourceDatabase"/>.</summary>
    public string SourceMigrator { get; }

    /// <summary>Connection string of <see cref="TestRoles.MigratorUser"/> to <see cref="TargetDatabase"/>.</summary>
    public string TargetMigrator { get; }

    /// <summary>
    /// Creates the two databases. With <paramref name="grantMigrator"/> the target database is owned by the
    /// migrator (so in PostgreSQL 15 it owns the public schema and may create schemas), has postgres_fdw
    /// installed, and the migrator may use that wrapper.
    /// </summary>
    public static async Task<TestDatabasePair> CreateAsync(
        TestServerPair servers, bool grantMigrator = true, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(servers);

        // Distinct names keep both databases apart even when source and target are one server.
        var id = Secrets.Suffix(12);
        var pair = new TestDatabasePair(servers, NamePrefix + id + "_src", NamePrefix + id + "_tgt");
        try
        {
            var migrator = SqlText.Identifier(TestRoles.MigratorUser);
            var owner = grantMigrator ? " OWNER " + migrator : "";
            await Task.WhenAll(
                Sql.ExecuteAsync(
                    servers.Source.AdminConnectionString,
                    [$"CREATE DATABASE {SqlText.Identifier(pair.SourceDatabase)}"],
                    cancellationToken),
                Sql.ExecuteAsync(
                    servers.Target.AdminConnectionString,
                    [$"CREATE DATABASE {SqlText.Identifier(pair.TargetDatabase)}{owner}"],
                    cancellationToken)).ConfigureAwait(false);

            if (grantMigrator)
            {
                await Sql.ExecuteAsync(
                    pair.TargetAdmin,
                    [
                        "CREATE EXTENSION IF NOT EXISTS postgres_fdw",
                        $"GRANT USAGE ON FOREIGN DATA WRAPPER postgres_fdw TO {migrator}",
                    ],
                    cancellationToken).ConfigureAwait(false);
            }

            return pair;
        }
        catch
        {
            await pair.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Drops both databases, ending any session still connected to them.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // Pooled connections to the dropped databases would otherwise be handed out later, already dead.
        foreach (var connectionString in new[] { SourceAdmin, TargetAdmin, SourceMigrator, TargetMigrator })
        {
            using var connection = new NpgsqlConnection(connectionString);
            NpgsqlConnection.ClearPool(connection);
        }

        await Task.WhenAll(
            DropAsync(_servers.Source.AdminConnectionString, SourceDatabase),
            DropAsync(_servers.Target.AdminConnectionString, TargetDatabase)).ConfigureAwait(false);
    }

    private static Task DropAsync(string adminConnectionString, string database) =>
        Sql.ExecuteAsync(
            adminConnectionString,
            [$"DROP DATABASE IF EXISTS {SqlText.Identifier(database)} WITH (FORCE)"],
            CancellationToken.None);
}
