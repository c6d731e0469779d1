using Confiture.Core.Connections;
using Confiture.Core.Readiness;
using Confiture.Core.Record;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Verification;

/// <summary>One row of <c>confiture.verification</c>: a table's last checksum verification and how both sides stood just before it.</summary>
internal sealed record VerifiedTable(
    string TargetSchema, string TargetTable, string SourceSchema, string SourceTable, string ServerName, bool Matched,
    ChangeMark Target, ChangeMark Source, DateTimeOffset VerifiedAt);

/// <summary>Reads and writes <c>confiture.verification</c>.</summary>
internal static class VerificationRecord
{
    private const string Table = TargetRecord.Schema + ".verification";

    /// <summary>
    /// Records a checksum verification, in a transaction of its own once both digests are read. A
    /// role that may not write the record gets a warning: the verification itself stands.
    /// </summary>
    public static async Task WriteAsync(
        DatabaseEndpoint target, TableVerification result, string serverName, ChangeMark sourceMark, ChangeMark targetMark,
        IOperationObserver observer, CancellationToken cancellationToken)
    {
        await using var connection = await target.OpenAsync(cancellationToken).ConfigureAwait(false);
        var access = await TargetRecord.AccessAsync(connection, "verification", "INSERT, UPDATE", cancellationToken).ConfigureAwait(false);
        var writable = access ?? await TargetRecord.MayCreateAsync(connection, cancellationToken).ConfigureAwait(false);
        if (!writable)
        {
            observer.Warning($"The checksum of {result.TargetSchema}.{result.TargetTable} was not recorded on the target: {connection.UserName} may not write schema {TargetRecord.Schema}. " +
                "Test-ConfitureCutover then reports this table as not verified.");
            return;
        }

        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await TargetRecord.EnsureAsync(connection, observer, cancellationToken).ConfigureAwait(false);
        await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain(
            $"""
            INSERT INTO {Table} AS v (target_schema, target_table, source_schema, source_table, server_name, matched,
                                      target_changes, source_changes, target_storage, source_storage)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            ON CONFLICT (target_schema, target_table) DO UPDATE SET
                source_schema = EXCLUDED.source_schema, source_table = EXCLUDED.source_table, server_name = EXCLUDED.server_name,
                matched = EXCLUDED.matched, target_changes = EXCLUDED.target_changes, source_changes = EXCLUDED.source_changes,
                target_storage = EXCLUDED.target_storage, source_storage = EXCLUDED.source_storage, verified_at = now(), verified_by = current_user
            """), observer, cancellationToken,
            result.TargetSchema, result.TargetTable, result.SourceSchema, result.SourceTable, serverName, result.Match,
            targetMark.Changes, sourceMark.Changes, targetMark.Storage, sourceMark.Storage).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Every recorded verification; null when the role may not read the record, empty when there is none.</summary>
    public static async Task<IReadOnlyList<VerifiedTable>?> ReadAllAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var access = await TargetRecord.AccessAsync(connection, "verification", "SELECT", cancellationToken).ConfigureAwait(false);
        if (access is null)
        {
            return [];
        }

        if (access == false)
        {
            return null;
        }

        return await SqlExecutor.ListAsync(connection,
            $"""
            SELECT target_schema, target_table, source_schema, source_table, server_name, matched,
                   target_changes, target_storage, source_changes, source_storage, verified_at
            FROM {Table}
            """,
            r => new VerifiedTable(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetBoolean(5),
                new ChangeMark(r.GetInt64(6), r.GetString(7)), new ChangeMark(r.GetInt64(8), r.GetString(9)), r.GetFieldValue<DateTimeOffset>(10)),
            cancellationToken).ConfigureAwait(false);
    }
}
