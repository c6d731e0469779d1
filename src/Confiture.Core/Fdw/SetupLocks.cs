using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Fdw;

/// <summary>
/// Serializes setups and cleanups on one target: a transaction-level advisory lock keyed by the
/// server name, then one keyed by the foreign schema. Everyone takes them in that order, so two
/// sessions wait for each other instead of racing on the catalogs ("tuple concurrently updated").
/// </summary>
internal static class SetupLocks
{
    private const int ServerSpace = 0x436F6E66; // "Conf"
    private const int SchemaSpace = 0x436F6E67;
    private const int ExtensionSpace = 0x436F6E68;

    public static async Task TakeAsync(NpgsqlConnection connection, string serverName, string? foreignSchema, IOperationObserver observer, CancellationToken cancellationToken)
    {
        await TakeOneAsync(connection, ServerSpace, serverName, $"server \"{serverName}\"", observer, cancellationToken).ConfigureAwait(false);
        if (foreignSchema is not null)
        {
            await TakeOneAsync(connection, SchemaSpace, foreignSchema, $"schema \"{foreignSchema}\"", observer, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Taken last, only by a setup that may create postgres_fdw.</summary>
    public static Task TakeExtensionAsync(NpgsqlConnection connection, IOperationObserver observer, CancellationToken cancellationToken) =>
        TakeOneAsync(connection, ExtensionSpace, "postgres_fdw", "the extension postgres_fdw", observer, cancellationToken);

    private static async Task TakeOneAsync(NpgsqlConnection connection, int space, string name, string what, IOperationObserver observer, CancellationToken cancellationToken)
    {
        var taken = await SqlExecutor.ScalarAsync<bool>(connection, "SELECT pg_try_advisory_xact_lock($1, hashtext($2))", cancellationToken, space, name).ConfigureAwait(false);
        if (taken)
        {
            return;
        }

        observer.Warning($"Another Confiture setup or cleanup of {what} is running on the target; waiting for it to finish.");
        await SqlExecutor.ScalarAsync<object>(connection, "SELECT pg_advisory_xact_lock($1, hashtext($2))", cancellationToken, space, name).ConfigureAwait(false);
    }
}
