using Npgsql;

namespace Confiture.TestServers;

internal static class Sql
{
    /// <summary>
    /// Opens a connection outside the pool, so that no idle session lingers in a database about to be
    /// dropped or on a server about to be stopped.
    /// </summary>
    public static async Task<NpgsqlConnection> OpenUnpooledAsync(string connectionString, CancellationToken cancellationToken)
    {
        var connection = new NpgsqlConnection(
            new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        var command = new NpgsqlCommand(sql, connection);
        await using (command.ConfigureAwait(false))
        {
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public static async Task ExecuteAsync(string connectionString, IEnumerable<string> statements, CancellationToken cancellationToken)
    {
        var connection = await OpenUnpooledAsync(connectionString, cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            foreach (var statement in statements)
            {
                await ExecuteAsync(connection, statement, cancellationToken).ConfigureAwait(false);
            }
        }
    }
}
