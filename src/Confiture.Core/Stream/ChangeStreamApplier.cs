using System.Diagnostics;
using Confiture.Core.Connections;
using Confiture.Core.Fdw;
using Confiture.Core.Migration;
using Confiture.Core.Record;
using Confiture.Core.Sql;
using Npgsql;
using NpgsqlTypes;

namespace Confiture.Core.Stream;

/// <summary>
/// Applies a session's change stream to the target through each table's recorded map, in batched
/// target transactions that each end at a source transaction boundary and store the position in
/// the same transaction; the slot is told only after the commit. A restart (a kill, a new process)
/// resumes from the stored position and skips what it already holds: every change exactly once.
/// </summary>
internal sealed class ChangeStreamApplier(DatabaseEndpoint source, DatabaseEndpoint target, FdwSettings settings, IOperationObserver observer)
{
    /// <summary>The prefix of the logical decoding message that marks where a call stops.</summary>
    public const string MarkerPrefix = "confiture.stop";

    /// <summary>Statements sent in one round trip within a batch.</summary>
    private const int RoundTrip = 1_000;

    private static readonly TimeSpan ProgressEvery = TimeSpan.FromSeconds(1);

    public async Task<ChangeStreamStatus> RunAsync(ChangeStreamOptions options, Action<ChangeStreamStatus>? progress, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        await using var targetConnection = await target.OpenAsync(cancellationToken).ConfigureAwait(false);
        var position = await StreamPosition.ReadAsync(targetConnection, settings.ServerName, cancellationToken).ConfigureAwait(false)
            ?? throw NoStream(settings.ServerName);
        var conversion = await ConversionSettings.ReadAsync(targetConnection, cancellationToken).ConfigureAwait(false);
        await using var sourceConnection = await source.OpenAsync(cancellationToken).ConfigureAwait(false);
        var tables = await TablesAsync(sourceConnection, targetConnection, position.Publication, cancellationToken).ConfigureAwait(false);

        // Everything the source committed before this call sits before this message in the stream.
        string? marker = null;
        if (!options.RunsOn)
        {
            marker = Guid.NewGuid().ToString("N");
            await SqlExecutor.ExecuteAsync(sourceConnection, SqlStatement.Plain("SELECT pg_logical_emit_message(true, $1, $2)"), observer, cancellationToken,
                MarkerPrefix, marker).ConfigureAwait(false);
        }

        var deadline = options.Until;
        if (options.For is { } span)
        {
            var end = DateTimeOffset.Now + span;
            deadline = deadline is { } until && until < end ? until : end;
        }

        await WaitForSlotAsync(sourceConnection, position.Slot, cancellationToken).ConfigureAwait(false);
        await using var reader = await ChangeStreamReader.StartAsync(source, conversion, position.Slot, position.Publication, position.AppliedLsn, cancellationToken)
            .ConfigureAwait(false);
        var apply = new Batch(targetConnection, conversion, settings.ServerName, position.AppliedLsn, reader, tables.Values.SelectMany(t => t).ToList(), observer);
        var relations = new Dictionary<uint, List<StreamedTable>>();
        var skipping = false;
        var inTransaction = false;
        var stop = false;
        var marked = false;
        var idleAtEnd = false;
        var lastProgress = TimeSpan.Zero;
        try
        {
            while (!stop)
            {
                if (!reader.Items.TryRead(out var item))
                {
                    // Caught up with the source for now: what is complete goes in.
                    if (!inTransaction)
                    {
                        await apply.CommitAsync(cancellationToken).ConfigureAwait(false);
                        if (deadline is { } d && DateTimeOffset.Now >= d)
                        {
                            idleAtEnd = true;
                            break;
                        }
                    }

                    if (progress is not null && clock.Elapsed - lastProgress >= ProgressEvery)
                    {
                        lastProgress = clock.Elapsed;
                        progress(await StatusAsync(sourceConnection, position.Slot, apply, tables, clock.Elapsed, !inTransaction, cancellationToken).ConfigureAwait(false));
                    }

                    using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    wait.CancelAfter(ProgressEvery);
                    try
                    {
                        if (!await reader.Items.WaitToReadAsync(wait.Token).ConfigureAwait(false))
                        {
                            await reader.Items.Completion.ConfigureAwait(false);
                            throw new ConfitureException(ConfitureErrorKind.ChangeStreamFailed,
                                "The source ended the change stream.", position.Slot, "Run Sync-ConfitureMigration again; it resumes from the stored position.");
                        }
                    }
                    catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                    {
                    }

                    continue;
                }

                switch (item)
                {
                    case StreamItem.Begin begin:
                        inTransaction = true;
                        skipping = begin.CommitLsn < apply.Stored;
                        break;
                    case StreamItem.Relation relation:
                        relations[relation.Id] = Bind(tables, relation);
                        break;
                    case StreamItem.Row row when !skipping:
                        foreach (var table in Tables(relations, row.RelationId))
                        {
                            await apply.AddAsync(table, row.Kind switch
                            {
                                RowKind.Insert => table.Insert(row),
                                RowKind.Update => table.Update(row),
                                _ => table.Delete(row),
                            }, row.Kind != RowKind.Insert, cancellationToken).ConfigureAwait(false);
                        }

                        break;
                    case StreamItem.Truncate truncate when !skipping:
                        foreach (var table in truncate.RelationIds.SelectMany(id => Tables(relations, id)))
                        {
                            await apply.AddAsync(table, table.Truncate(), false, cancellationToken).ConfigureAwait(false);
                        }

                        break;
                    case StreamItem.Message message when message.Prefix == MarkerPrefix && message.Content == marker:
                        // Stops once its transaction ends: everything committed before the call is in.
                        marked = true;
                        break;
                    case StreamItem.Commit commit:
                        inTransaction = false;
                        if (!skipping && commit.EndLsn > apply.Stored)
                        {
                            apply.EndTransaction(commit.EndLsn, commit.CommittedAt);
                        }

                        skipping = false;
                        var timeUp = deadline is { } due && DateTimeOffset.Now >= due;
                        if (marked || timeUp || apply.Pending >= options.BatchSize)
                        {
                            await apply.CommitAsync(cancellationToken).ConfigureAwait(false);
                        }

                        stop = marked || timeUp;
                        if (!stop && progress is not null && clock.Elapsed - lastProgress >= ProgressEvery)
                        {
                            lastProgress = clock.Elapsed;
                            progress(await StatusAsync(sourceConnection, position.Slot, apply, tables, clock.Elapsed, false, cancellationToken).ConfigureAwait(false));
                        }

                        break;
                }
            }
        }
        catch
        {
            await apply.RollbackAsync().ConfigureAwait(false);
            throw;
        }

        if (apply.NotFound > 0)
        {
            observer.Warning($"{apply.NotFound} update(s) or delete(s) of the change stream found no row on the target: the target was changed by something else. Compare with Test-ConfitureMigration -Checksum.");
        }

        return await StatusAsync(sourceConnection, position.Slot, apply, tables, clock.Elapsed, idleAtEnd || reader.Items.Count == 0, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// A slot serves one reader at a time. The WAL sender of a process killed a moment ago lingers
    /// until the source notices: waited for, a little; a live reader is another call's, not ended.
    /// </summary>
    private static async Task WaitForSlotAsync(NpgsqlConnection connection, string slot, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + SlotWait;
        while (true)
        {
            var rows = await SqlExecutor.ListAsync(connection, "SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1",
                r => r.IsDBNull(0) ? (int?)null : r.GetInt32(0), cancellationToken, slot).ConfigureAwait(false);
            if (rows.Count == 0)
            {
                throw new ConfitureException(ConfitureErrorKind.ChangeStreamFailed,
                    $"The change stream's replication slot \"{slot}\" is gone from the source: the changes since the last Sync-ConfitureMigration cannot be read.",
                    slot, "Run Remove-ConfitureFdw, then set the session up again and migrate the tables again.");
            }

            if (rows[0] is not { } pid)
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new ConfitureException(ConfitureErrorKind.ServerInUse,
                    $"The change stream's replication slot \"{slot}\" is being read by source process {pid} (another Sync-ConfitureMigration?).",
                    slot, $"Let that call finish or stop it; if it is a leftover, end it on the source: SELECT pg_terminate_backend({pid}).");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(250), cancellationToken).ConfigureAwait(false);
        }
    }

    private static readonly TimeSpan SlotWait = TimeSpan.FromSeconds(20);

    private static List<StreamedTable> Tables(Dictionary<uint, List<StreamedTable>> relations, uint id) =>
        relations.TryGetValue(id, out var tables) ? tables
            : throw new ConfitureException(ConfitureErrorKind.ChangeStreamFailed, $"The change stream sent a change of relation {id} before describing it.", null,
                "Run Sync-ConfitureMigration again; it resumes from the stored position.");

    private static List<StreamedTable> Bind(IReadOnlyDictionary<(string, string), List<StreamedTable>> tables, StreamItem.Relation relation)
    {
        if (!tables.TryGetValue((relation.Schema, relation.Name), out var found))
        {
            throw new ConfitureException(ConfitureErrorKind.ChangeStreamFailed,
                $"The change stream carries table \"{relation.Schema}.{relation.Name}\", which has no recorded map on the target (it was not migrated in this session).",
                relation.Name, $"Migrate \"{relation.Name}\" in this session, or leave it out of the session (-Table) and set it up again.");
        }

        foreach (var table in found)
        {
            table.Bind(relation);
        }

        return found;
    }

    /// <summary>
    /// The publication's tables and the map each was migrated with: a table of the stream without
    /// a recorded map would lose its changes, so it is refused by name before anything is applied.
    /// </summary>
    private async Task<IReadOnlyDictionary<(string, string), List<StreamedTable>>> TablesAsync(
        NpgsqlConnection sourceConnection, NpgsqlConnection targetConnection, string publication, CancellationToken cancellationToken)
    {
        var published = await SqlExecutor.ListAsync(sourceConnection,
            "SELECT schemaname::text, tablename::text FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1, 2",
            r => (Schema: r.GetString(0), Table: r.GetString(1)), cancellationToken, publication).ConfigureAwait(false);
        var readable = await TargetRecord.AccessAsync(targetConnection, "table_map", "SELECT", cancellationToken).ConfigureAwait(false) == true;
        var result = new Dictionary<(string, string), List<StreamedTable>>();
        var missing = new List<string>();
        foreach (var (schema, table) in published)
        {
            var targets = !readable ? [] : await SqlExecutor.ListAsync(targetConnection,
                $"SELECT target_schema, target_table FROM {TargetRecord.Schema}.table_map WHERE source_schema = $1 AND source_table = $2 AND server_name = $3 ORDER BY 1, 2",
                r => (Schema: r.GetString(0), Table: r.GetString(1)), cancellationToken, schema, table, settings.ServerName).ConfigureAwait(false);
            if (targets.Count == 0)
            {
                missing.Add(table);
                continue;
            }

            var sourceInfo = await TableCatalog.FindAsync(sourceConnection, schema, table, cancellationToken).ConfigureAwait(false)
                ?? throw new ConfitureException(ConfitureErrorKind.TableNotFound, $"Table \"{schema}.{table}\" of the change stream is gone from the source.", table,
                    "Run Remove-ConfitureFdw to end the stream.");
            var list = new List<StreamedTable>();
            foreach (var (targetSchema, targetTable) in targets)
            {
                var map = (await TableMapRecord.ReadAsync(targetConnection, targetSchema, targetTable, cancellationToken).ConfigureAwait(false))!;
                var targetInfo = await TableCatalog.FindAsync(targetConnection, targetSchema, targetTable, cancellationToken).ConfigureAwait(false)
                    ?? throw new ConfitureException(ConfitureErrorKind.TableNotFound, $"Target table \"{targetSchema}.{targetTable}\" of the change stream is gone.", targetTable,
                        "Migrate the table again, or run Remove-ConfitureFdw to end the stream.");
                var columns = ColumnMapper.Resolve(table, sourceInfo.Columns, targetTable, targetInfo.Columns, map.Columns);
                var sequences = await SequenceLinks.FindAsync(targetConnection, target, targetInfo.Oid, columns.Select(c => c.Target.Name).ToList(), table, observer, cancellationToken)
                    .ConfigureAwait(false);
                list.Add(new StreamedTable(map, columns, sequences));
            }

            result[(schema, table)] = list;
        }

        if (missing.Count > 0)
        {
            throw new ConfitureException(ConfitureErrorKind.ChangeStreamFailed,
                $"The change stream carries {(missing.Count == 1 ? "table" : "tables")} {string.Join(", ", missing.Select(t => $"\"{t}\""))}, which {(missing.Count == 1 ? "was" : "were")} not migrated in this session (no recorded map on the target): {(missing.Count == 1 ? "its" : "their")} changes would be lost.",
                missing[0], "Migrate them first (Invoke-ConfitureTableMigration, in the session that set up the stream), then run Sync-ConfitureMigration.");
        }

        return result;
    }

    private static async Task<ChangeStreamStatus> StatusAsync(
        NpgsqlConnection sourceConnection, string slot, Batch apply, IReadOnlyDictionary<(string, string), List<StreamedTable>> tables, TimeSpan elapsed, bool idle,
        CancellationToken cancellationToken)
    {
        var current = NpgsqlLogSequenceNumber.Parse(await SqlExecutor.ScalarAsync<string>(sourceConnection, "SELECT pg_current_wal_lsn()::text", cancellationToken).ConfigureAwait(false) ?? "0/0");
        var lag = (ulong)current > (ulong)apply.Stored ? (long)((ulong)current - (ulong)apply.Stored) : 0;
        var seconds = idle || apply.LastCommittedAt is null ? 0 : Math.Max(0, (DateTimeOffset.UtcNow - apply.LastCommittedAt.Value).TotalSeconds);
        var counts = tables.Values.SelectMany(t => t)
            .Select(t => new ChangeStreamTableCounts(t.Map.SourceTable, t.Map.TargetSchema, t.Map.TargetTable, t.Inserted, t.Updated, t.Deleted, t.Truncated))
            .ToList();
        return new ChangeStreamStatus(slot, apply.Stored.ToString(), apply.Applied, apply.Transactions, counts, current.ToString(), lag, seconds, elapsed, apply.NotFound);
    }

    internal static ConfitureException NoStream(string serverName) => new(ConfitureErrorKind.NoChangeStream,
        $"The session of server \"{serverName}\" has no change stream on the target's record.", serverName,
        "Set the session up with Enable-ConfitureFdw -ChangeStream before migrating, or catch up with Invoke-ConfitureTableMigration -Sync.");

    /// <summary>
    /// The target transaction under way: its statements (sent a round trip at a time), the source
    /// transactions it completes, and the position it stores. Counts move only with a commit.
    /// </summary>
    private sealed class Batch(
        NpgsqlConnection connection, ConversionSettings conversion, string serverName, NpgsqlLogSequenceNumber stored, ChangeStreamReader reader,
        IReadOnlyList<StreamedTable> tables, IOperationObserver observer)
    {
        private readonly List<(NpgsqlBatchCommand Command, StreamedTable Table, bool MustFind)> _queued = [];
        private NpgsqlTransaction? _transaction;
        private long _inTransaction;
        private long _completeChanges;
        private long _completeTransactions;
        private NpgsqlLogSequenceNumber? _end;
        private DateTimeOffset? _endCommittedAt;
        private long _notFound;

        /// <summary>The position the target holds (stored and committed).</summary>
        public NpgsqlLogSequenceNumber Stored { get; private set; } = stored;

        public DateTimeOffset? LastCommittedAt { get; private set; }

        public long Applied { get; private set; }

        public long Transactions { get; private set; }

        public long NotFound { get; private set; }

        /// <summary>Changes of complete source transactions waiting for the commit.</summary>
        public long Pending => _completeChanges;

        public async Task AddAsync(StreamedTable table, NpgsqlBatchCommand command, bool mustFind, CancellationToken cancellationToken)
        {
            if (_transaction is null)
            {
                _transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
                await conversion.ApplyAsync(connection, NullObserver.Instance, cancellationToken).ConfigureAwait(false);
            }

            _queued.Add((command, table, mustFind));
            _inTransaction++;
            if (_queued.Count >= RoundTrip)
            {
                await SendAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        public void EndTransaction(NpgsqlLogSequenceNumber end, DateTimeOffset committedAt)
        {
            _completeChanges = _inTransaction;
            _completeTransactions++;
            _end = end;
            _endCommittedAt = committedAt;
        }

        /// <summary>Commits the complete source transactions with their position, then confirms it to the slot.</summary>
        public async Task CommitAsync(CancellationToken cancellationToken)
        {
            if (_end is not { } end)
            {
                return;
            }

            _transaction ??= await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            _queued.Add((StreamPosition.Advance(serverName, end, _completeChanges), null!, false));
            await SendAsync(cancellationToken).ConfigureAwait(false);

            // Sequences follow the data, in the same transaction: new rows on the target get ids past the streamed ones.
            foreach (var table in tables.Where(t => t.Written))
            {
                foreach (var link in table.Sequences)
                {
                    await SequenceLinks.MoveAsync(connection, table.QualifiedTarget, link, NullObserver.Instance, cancellationToken).ConfigureAwait(false);
                }

                table.Written = false;
            }

            var started = Stopwatch.GetTimestamp();
            await _transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            observer.Statement($"-- change stream: {_completeChanges} change(s) of {_completeTransactions} source transaction(s) applied up to {end}", Stopwatch.GetElapsedTime(started));
            await _transaction.DisposeAsync().ConfigureAwait(false);
            _transaction = null;
            Stored = end;
            LastCommittedAt = _endCommittedAt;
            Applied += _completeChanges;
            Transactions += _completeTransactions;
            NotFound += _notFound;
            _notFound = 0;
            _inTransaction = 0;
            _completeChanges = 0;
            _completeTransactions = 0;
            _end = null;

            // Only now may the source recycle the WAL up to here: the target holds it.
            await reader.ConfirmAsync(end, cancellationToken).ConfigureAwait(false);
        }

        private async Task SendAsync(CancellationToken cancellationToken)
        {
            if (_queued.Count == 0)
            {
                return;
            }

            await using var batch = new NpgsqlBatch(connection, _transaction);
            foreach (var (command, _, _) in _queued)
            {
                batch.BatchCommands.Add(command);
            }

            try
            {
                await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (PostgresException ex)
            {
                var failed = _queued.FirstOrDefault(q => ReferenceEquals(q.Command, ex.BatchCommand)).Table;
                throw new ConfitureException(
                    ex.SqlState.StartsWith("22", StringComparison.Ordinal) ? ConfitureErrorKind.ValueDoesNotFit : ConfitureErrorKind.ChangeStreamFailed,
                    $"Applying the change stream failed{(failed is null ? string.Empty : $" on {failed.Describe}")}: {ex.MessageText}. Nothing of the batch under way was applied.",
                    failed?.Map.TargetTable ?? serverName,
                    "Fix the cause on the target (or the map) and run Sync-ConfitureMigration again; it resumes from the stored position.", ex);
            }

            _notFound += _queued.Count(q => q.MustFind && q.Command.RecordsAffected == 0);
            _queued.Clear();
        }

        public async Task RollbackAsync()
        {
            _queued.Clear();
            if (_transaction is not null)
            {
                await _transaction.DisposeAsync().ConfigureAwait(false);
                _transaction = null;
            }
        }
    }
}
