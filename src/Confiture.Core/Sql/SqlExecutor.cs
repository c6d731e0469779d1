using System.Diagnostics;
using Confiture.Core.Errors;
using Npgsql;

namespace Confiture.Core.Sql;

/// <summary>Runs statements and tells the observer what ran and how long it took.</summary>
internal static class SqlExecutor
{
    public static async Task<int> ExecuteAsync(
        NpgsqlConnection connection,
        SqlStatement statement,
        IOperationObserver observer,
        CancellationToken cancellationToken,
        params object?[] parameters)
    {
        var started = Stopwatch.GetTimestamp();
        await using var command = Create(connection, statement.Text, parameters);
        int affected;
        try
        {
            affected = await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ServerTag.Mark(ex, connection))
        {
            throw;
        }

        observer.Statement(statement.Display, Stopwatch.GetElapsedTime(started));
        return affected;
    }

    public static async Task<T?> ScalarAsync<T>(
        NpgsqlConnection connection,
        string sql,
        CancellationToken cancellationToken,
        params object?[] parameters)
    {
        await using var command = Create(connection, sql, parameters);
        try
        {
            var value = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
            return value is null or DBNull ? default : (T)value;
        }
        catch (Exception ex) when (ServerTag.Mark(ex, connection))
        {
            throw;
        }
    }

    public static async Task<List<T>> ListAsync<T>(
        NpgsqlConnection connection,
        string sql,
        Func<NpgsqlDataReader, T> read,
        CancellationToken cancellationToken,
        params object?[] parameters)
    {
        await using var command = Create(connection, sql, parameters);
        try
        {
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            var rows = new List<T>();
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                rows.Add(read(reader));
            }

            return rows;
        }
        catch (Exception ex) when (ServerTag.Mark(ex, connection))
        {
            throw;
        }
    }

    private static NpgsqlCommand Create(NpgsqlConnection connection, string sql, object?[] parameters)
    {
        // Migrations run as long as the data needs; cancellation, not a timer, stops them.
        var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        foreach (var value in parameters)
        {
            // Catalog OIDs travel as uint, which Npgsql only writes when told the type.
            command.Parameters.Add(value is uint
                ? new NpgsqlParameter { Value = value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Oid }
                : new NpgsqlParameter { Value = value ?? DBNull.Value });
        }

        return command;
    }
}
