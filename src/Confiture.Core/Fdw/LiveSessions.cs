using System.Collections.Concurrent;
using System.Security.Cryptography;
using Confiture.Core.Connections;
using Npgsql;

namespace Confiture.Core.Fdw;

/// <summary>
/// The setups this process holds. Each holds a session-level advisory lock on one target
/// connection kept open for it; the lock's key is in the setup record, so another process sees
/// the session as live exactly while this process (and its connection) lives. A crashed or
/// finished process leaves no lock, and its objects may be taken over.
/// </summary>
internal static class LiveSessions
{
    private static readonly ConcurrentDictionary<string, Anchor> Held = new(StringComparer.Ordinal);

    /// <summary>An open connection holding one session's lock.</summary>
    public sealed class Anchor(NpgsqlConnection connection, long key) : IAsyncDisposable
    {
        public long Key { get; } = key;

        public async ValueTask DisposeAsync()
        {
            try
            {
                if (connection.State == System.Data.ConnectionState.Open)
                {
                    await using var command = new NpgsqlCommand("SELECT pg_advisory_unlock($1)", connection);
                    command.Parameters.AddWithValue(Key);
                    await command.ExecuteScalarAsync().ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException)
            {
                // A broken connection holds no lock any more: nothing to release.
            }

            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The lock of this process's session for a server of a database, if it has one.</summary>
    public static long? OursFor(SetupRecord.Identity database, string serverName) =>
        Held.TryGetValue(Key(database, serverName), out var anchor) ? anchor.Key : null;

    /// <summary>Opens a connection and takes a new session's lock on it.</summary>
    public static async Task<Anchor> TakeAsync(DatabaseEndpoint target, CancellationToken cancellationToken)
    {
        // Positive, so that pg_locks' two 32-bit halves read back without sign games.
        var key = BitConverter.ToInt64(RandomNumberGenerator.GetBytes(8)) & long.MaxValue;
        var connection = await target.OpenAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var command = new NpgsqlCommand("SELECT pg_advisory_lock($1)", connection);
            command.Parameters.AddWithValue(key);
            await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
            return new Anchor(connection, key);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Makes the anchor this process's session for the server before the setup commits, so that a
    /// setup of this process waiting for that commit finds it; returns the one it replaces, to
    /// release after the commit or to put back if the commit fails.
    /// </summary>
    public static Anchor? Swap(SetupRecord.Identity database, string serverName, Anchor anchor)
    {
        Anchor? previous = null;
        Held.AddOrUpdate(Key(database, serverName), anchor, (_, old) =>
        {
            previous = old;
            return anchor;
        });
        return ReferenceEquals(previous, anchor) ? null : previous;
    }

    /// <summary>Undoes <see cref="Swap"/> after a failed setup.</summary>
    public static void Restore(SetupRecord.Identity database, string serverName, Anchor anchor, Anchor? previous)
    {
        var key = Key(database, serverName);
        if (previous is null)
        {
            Held.TryRemove(new KeyValuePair<string, Anchor>(key, anchor));
        }
        else
        {
            Held.TryUpdate(key, previous, anchor);
        }
    }

    /// <summary>Ends this process's session for the server (after cleanup).</summary>
    public static async Task ReleaseAsync(SetupRecord.Identity database, string serverName)
    {
        if (Held.TryRemove(Key(database, serverName), out var anchor))
        {
            await anchor.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Whether any backend of the target holds the session lock <paramref name="key"/> in this database.</summary>
    public static async Task<bool> IsLiveAsync(NpgsqlConnection connection, SetupRecord.Identity database, long key, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            """
            SELECT EXISTS (SELECT 1 FROM pg_locks
                           WHERE locktype = 'advisory' AND granted AND objsubid = 1
                             AND database = $1 AND classid = $2 AND objid = $3)
            """, connection);
        command.Parameters.Add(new NpgsqlParameter { Value = database.DatabaseOid, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Oid });
        command.Parameters.Add(new NpgsqlParameter { Value = (uint)(key >> 32), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Oid });
        command.Parameters.Add(new NpgsqlParameter { Value = (uint)(key & 0xFFFFFFFF), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Oid });
        return (bool)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    private static string Key(SetupRecord.Identity database, string serverName) => $"{database}/{serverName}";
}
