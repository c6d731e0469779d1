using System.Globalization;
using Confiture.Core.Connections;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Fdw;

/// <summary>
/// Works out and runs what makes the target able to read the source: the extension, a server that
/// points at the source's real address, a user mapping with the source credentials, and the
/// imported foreign tables, each written to the setup record in the same transaction. Run again,
/// it takes over its own objects instead of failing; it refuses another live session's server, or
/// one that reads another source, unless forced.
/// </summary>
internal sealed class FdwSetup(DatabaseEndpoint source, DatabaseEndpoint target, FdwSettings settings, IOperationObserver observer)
{
    private const string Wrapper = "postgres_fdw";

    /// <summary>postgres_fdw's SQLSTATE when a non-superuser's mapping has no password or the source asked for none.</summary>
    private const string PasswordRequired = "2F003";

    /// <summary>The options Confiture owns on its server; others a DBA added are left alone.</summary>
    private static readonly string[] ManagedServerOptions = ["host", "port", "dbname", "fetch_size", "sslmode"];

    /// <summary>
    /// Builds the user mapping statement on the server, so that the password travels only as a bind
    /// parameter: statement logging and pg_stat_statements see the call, never the password. A
    /// failure is raised again with its code and message only, because the original's context
    /// would quote the statement, and log_min_error_statement logs that context. Where
    /// pg_stat_statements tracks nested statements too, it is told not to for this one, when the
    /// role may (superuser, or SET granted on the parameter).
    /// </summary>
    private const string MappingFunction =
        """
        CREATE OR REPLACE FUNCTION pg_temp.confiture_user_mapping(head text, secret text, tail text) RETURNS void
        LANGUAGE plpgsql AS $confiture$
        DECLARE
            tracked text := current_setting('pg_stat_statements.track', true);
        BEGIN
            IF tracked = 'all' THEN
                BEGIN
                    PERFORM set_config('pg_stat_statements.track', 'top', true);
                EXCEPTION WHEN insufficient_privilege THEN
                    NULL;
                END;
            END IF;
            EXECUTE format('%s%L%s', head, secret, tail);
            IF tracked = 'all' THEN
                PERFORM set_config('pg_stat_statements.track', tracked, true);
            END IF;
        EXCEPTION WHEN OTHERS THEN
            RAISE EXCEPTION USING ERRCODE = SQLSTATE, MESSAGE = SQLERRM;
        END
        $confiture$
        """;

    /// <summary>Inspects both databases and returns the statements setup would run; changes nothing.</summary>
    public async Task<FdwPlan> PlanAsync(CancellationToken cancellationToken)
    {
        var tables = await CheckSourceAsync(cancellationToken).ConfigureAwait(false);
        await using var connection = await target.OpenAsync(cancellationToken).ConfigureAwait(false);
        var work = await PlanOrExplainAsync(connection, tables, cancellationToken).ConfigureAwait(false);
        return new FdwPlan(work.Steps.Select(s => s.Statement).ToList(), [], tables);
    }

    /// <summary>Runs setup in one target transaction: all of it or none.</summary>
    public async Task<FdwPlan> ApplyAsync(CancellationToken cancellationToken)
    {
        var tables = await CheckSourceAsync(cancellationToken).ConfigureAwait(false);
        await using var connection = await target.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await SetupLocks.TakeAsync(connection, settings.ServerName, settings.ForeignSchema, observer, cancellationToken).ConfigureAwait(false);
        if (!await ExtensionInstalledAsync(connection, cancellationToken).ConfigureAwait(false))
        {
            // Two first setups under different names would both create it.
            await SetupLocks.TakeExtensionAsync(connection, observer, cancellationToken).ConfigureAwait(false);
        }

        var work = await PlanOrExplainAsync(connection, tables, cancellationToken).ConfigureAwait(false);

        // A session this process already holds for the server goes on; otherwise a new one starts.
        var anchor = work.SessionLock is null ? await LiveSessions.TakeAsync(target, cancellationToken).ConfigureAwait(false) : null;
        try
        {
            var notImported = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var step in work.Steps)
            {
                if (step.Import is { } importing)
                {
                    await ImportAsync(connection, transaction, step, importing, notImported, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    await RunAsync(connection, step, cancellationToken).ConfigureAwait(false);
                }
            }

            var imported = await ImportedTablesAsync(connection, tables, cancellationToken).ConfigureAwait(false);
            var items = work.Kept
                .Append(new SetupRecord.Item(SetupRecord.UserMapping, string.Empty, work.User))
                .Concat(imported.Select(t => new SetupRecord.Item(SetupRecord.ForeignTable, settings.ForeignSchema, t)));
            await SetupRecord.WriteAsync(connection, observer, settings.ServerName, work.Identity, ServerAddress(), settings.SourceSchema,
                settings.ForeignSchema, anchor?.Key ?? work.SessionLock!.Value, items, cancellationToken).ConfigureAwait(false);
            if (anchor is not null)
            {
                var previous = LiveSessions.Swap(work.Identity, settings.ServerName, anchor);
                try
                {
                    await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                }
                catch
                {
                    LiveSessions.Restore(work.Identity, settings.ServerName, anchor, previous);
                    throw;
                }

                if (previous is not null)
                {
                    await previous.DisposeAsync().ConfigureAwait(false);
                }
            }
            else
            {
                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            }

            foreach (var (table, reason) in notImported)
            {
                observer.Warning($"Table \"{table}\" was not imported as a foreign table: {reason} It can still be migrated with -Strategy Copy.");
            }

            return new FdwPlan(work.Steps.Select(s => s.Statement).ToList(),
                notImported.Select(p => $"Table \"{p.Key}\" was not imported: {p.Value}").ToList(), tables)
            {
                NotImported = notImported,
            };
        }
        catch (PostgresException ex)
        {
            if (anchor is not null)
            {
                await anchor.DisposeAsync().ConfigureAwait(false);
            }

            throw Translate(ex, SqlStatement.Plain("recording the setup in schema confiture"), ex);
        }
        catch
        {
            if (anchor is not null)
            {
                await anchor.DisposeAsync().ConfigureAwait(false);
            }

            throw;
        }
    }

    private async Task RunAsync(NpgsqlConnection connection, Step step, CancellationToken cancellationToken)
    {
        try
        {
            if (step.Mapping is { } mapping)
            {
                await SqlExecutor.ExecuteAsync(connection, SqlStatement.Plain(MappingFunction), NullObserver.Instance, cancellationToken).ConfigureAwait(false);
                await SqlExecutor.ExecuteAsync(connection,
                    new SqlStatement("SELECT pg_temp.confiture_user_mapping($1, $2, $3)", step.Statement.Display), observer, cancellationToken,
                    mapping.Head, mapping.Password, mapping.Tail).ConfigureAwait(false);
                await SqlExecutor.ExecuteAsync(connection,
                    SqlStatement.Plain("DROP FUNCTION pg_temp.confiture_user_mapping(text, text, text)"), NullObserver.Instance, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await SqlExecutor.ExecuteAsync(connection, step.Statement, observer, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (PostgresException ex)
        {
            // The server error of a statement with a secret carries its parameters: not kept.
            throw Translate(ex, step.Statement, step.Mapping is null ? ex : null);
        }
    }

    /// <summary>
    /// Imports every table in one statement; when that fails on a table (a type the target lacks,
    /// a name taken), imports them one by one and reports those that cannot be, with the reason.
    /// </summary>
    private async Task ImportAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Step step, IReadOnlyList<string> tables,
        Dictionary<string, string> notImported, CancellationToken cancellationToken)
    {
        if (tables.Count == 0)
        {
            return;
        }

        await transaction.SaveAsync("confiture_import", cancellationToken).ConfigureAwait(false);
        try
        {
            await SqlExecutor.ExecuteAsync(connection, step.Statement, observer, cancellationToken).ConfigureAwait(false);
            await transaction.ReleaseAsync("confiture_import", cancellationToken).ConfigureAwait(false);
            return;
        }
        catch (PostgresException ex) when (!StopsEveryImport(ex))
        {
            await transaction.RollbackAsync("confiture_import", cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException ex)
        {
            throw Translate(ex, step.Statement, ex);
        }

        foreach (var table in tables)
        {
            var one = SqlStatement.Plain(ImportStatement([table]));
            await transaction.SaveAsync("confiture_import", cancellationToken).ConfigureAwait(false);
            try
            {
                await SqlExecutor.ExecuteAsync(connection, one, observer, cancellationToken).ConfigureAwait(false);
                await transaction.ReleaseAsync("confiture_import", cancellationToken).ConfigureAwait(false);
            }
            catch (PostgresException ex) when (!StopsEveryImport(ex))
            {
                await transaction.RollbackAsync("confiture_import", cancellationToken).ConfigureAwait(false);
                notImported[table] = ex.MessageText.TrimEnd('.') + ".";
            }
            catch (PostgresException ex)
            {
                throw Translate(ex, one, ex);
            }
        }
    }

    /// <summary>A failure no other table would escape: the source is unreachable, a privilege is missing, the statement was cancelled.</summary>
    private static bool StopsEveryImport(PostgresException ex) =>
        ex.SqlState.StartsWith("08", StringComparison.Ordinal) || ex.SqlState.StartsWith("28", StringComparison.Ordinal)
        || ex.SqlState.StartsWith("53", StringComparison.Ordinal) || ex.SqlState.StartsWith("57", StringComparison.Ordinal)
        || ex.SqlState.StartsWith("58", StringComparison.Ordinal) || ex.SqlState.StartsWith("40", StringComparison.Ordinal)
        || ex.SqlState is PasswordRequired or PostgresErrorCodes.InsufficientPrivilege or PostgresErrorCodes.FdwUnableToEstablishConnection;

    private async Task<List<string>> ImportedTablesAsync(NpgsqlConnection connection, IReadOnlyList<string> tables, CancellationToken cancellationToken) =>
        await SqlExecutor.ListAsync(connection,
            """
            SELECT c.relname FROM pg_foreign_table ft
            JOIN pg_foreign_server s ON s.oid = ft.ftserver
            JOIN pg_class c ON c.oid = ft.ftrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE s.srvname = $1 AND n.nspname = $2 AND c.relname = ANY ($3)
            ORDER BY 1
            """,
            r => r.GetString(0), cancellationToken, settings.ServerName, settings.ForeignSchema, tables.ToArray()).ConfigureAwait(false);

    /// <summary>The source schema and the tables named must exist: a typo is caught before the target changes.</summary>
    private async Task<IReadOnlyList<string>> CheckSourceAsync(CancellationToken cancellationToken)
    {
        await using var connection = await source.OpenAsync(cancellationToken).ConfigureAwait(false);
        var schemaExists = await SqlExecutor.ScalarAsync<bool>(connection,
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", cancellationToken, settings.SourceSchema).ConfigureAwait(false);
        if (!schemaExists)
        {
            throw new ConfitureException(ConfitureErrorKind.SchemaNotFound,
                $"Schema \"{settings.SourceSchema}\" does not exist in the source database {source}.",
                settings.SourceSchema, "Pass -SourceSchema with a schema that exists on the source.");
        }

        var available = await SqlExecutor.ListAsync(connection,
            """
            SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
            ORDER BY 1
            """,
            r => r.GetString(0), cancellationToken, settings.SourceSchema).ConfigureAwait(false);
        if (settings.Tables is not { Count: > 0 } wanted)
        {
            return available;
        }

        var missing = wanted.Where(t => !available.Contains(t, StringComparer.Ordinal)).ToList();
        if (missing.Count > 0)
        {
            throw new ConfitureException(ConfitureErrorKind.TableNotFound,
                $"Table(s) {string.Join(", ", missing.Select(t => $"\"{t}\""))} not found in schema \"{settings.SourceSchema}\" of the source database {source}.",
                missing[0], "Check the names (they are case-sensitive) or leave -Table out to import every table.");
        }

        return wanted.Distinct(StringComparer.Ordinal).ToList();
    }

    /// <summary>A catalog or record read the role may not do (a record schema another role created) is a clear error too.</summary>
    private async Task<TargetWork> PlanOrExplainAsync(NpgsqlConnection connection, IReadOnlyList<string> tables, CancellationToken cancellationToken)
    {
        try
        {
            return await PlanTargetAsync(connection, tables, cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException ex)
        {
            throw Translate(ex, SqlStatement.Plain("reading the target's catalogs and Confiture's record"), ex);
        }
    }

    private async Task<TargetWork> PlanTargetAsync(NpgsqlConnection connection, IReadOnlyList<string> tables, CancellationToken cancellationToken)
    {
        var steps = new List<Step>();
        var isSuperuser = await SqlExecutor.ScalarAsync<bool>(connection,
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user", cancellationToken).ConfigureAwait(false);
        var user = await SqlExecutor.ScalarAsync<string>(connection, "SELECT current_user::text", cancellationToken).ConfigureAwait(false) ?? "?";
        var identity = await SetupRecord.IdentityAsync(connection, cancellationToken).ConfigureAwait(false);

        await PlanExtensionAsync(connection, isSuperuser, user, steps, cancellationToken).ConfigureAwait(false);

        var server = await TargetCatalog.FindServerAsync(connection, settings.ServerName, cancellationToken).ConfigureAwait(false);
        var entry = await SetupRecord.FindAsync(connection, settings.ServerName, cancellationToken).ConfigureAwait(false);
        var ours = entry is not null && entry.WrittenIn == identity ? entry : null;
        var serverName = SqlText.Identifier(settings.ServerName);
        long? sessionLock = null;
        if (server is null)
        {
            steps.Add(new Step(SqlStatement.Plain(
                $"CREATE SERVER {serverName} FOREIGN DATA WRAPPER {Wrapper} OPTIONS ({string.Join(", ", ServerOptions().Select(o => $"{o.Key} {SqlText.Literal(o.Value)}"))})")));
            steps.Add(new Step(SqlStatement.Plain($"COMMENT ON SERVER {serverName} IS {SqlText.Literal(ConfitureMarker.Comment)}")));
        }
        else
        {
            if (server.Wrapper != Wrapper || ours is null)
            {
                throw new ConfitureException(ConfitureErrorKind.ServerNotOwned,
                    $"A foreign server \"{settings.ServerName}\" already exists on the target and Confiture's record in this database does not list it as created by Confiture.",
                    settings.ServerName, "Pass another -ServerName; Confiture never changes a server it did not create (if it is a leftover, its owner can DROP SERVER it).");
            }

            sessionLock = await CheckSessionAsync(connection, identity, server, ours, cancellationToken).ConfigureAwait(false);
            var changes = OptionChanges(server.Options, ServerOptions(), ManagedServerOptions);
            if (changes.Count > 0)
            {
                steps.Add(new Step(SqlStatement.Plain($"ALTER SERVER {serverName} OPTIONS ({string.Join(", ", changes)})")));
            }
        }

        steps.Add(await PlanUserMappingAsync(connection, server, serverName, cancellationToken).ConfigureAwait(false));

        var kept = new List<SetupRecord.Item>();
        if (ours is not null)
        {
            kept.AddRange(await StillThereAsync(connection, server, user, ours, cancellationToken).ConfigureAwait(false));
        }

        var owned = ours is not null && server is not null
            ? await OwnedForeignTablesAsync(connection, server.Oid, ours, cancellationToken).ConfigureAwait(false)
            : [];
        if (await PlanForeignSchemaAsync(connection, owned, steps, cancellationToken).ConfigureAwait(false))
        {
            kept.Add(new SetupRecord.Item(SetupRecord.SchemaKind, string.Empty, settings.ForeignSchema));
        }

        // A re-run (or a run after a crash) replaces the foreign tables it imported before, wherever they are.
        steps.AddRange(owned.Select(t => new Step(SqlStatement.Plain($"DROP FOREIGN TABLE {SqlText.Qualified(t.Schema, t.Table)}"))));
        if (tables.Count > 0)
        {
            steps.Add(new Step(SqlStatement.Plain(ImportStatement(tables)), Import: tables));
        }

        return new TargetWork(steps, identity, user, sessionLock, kept);
    }

    /// <summary>
    /// Refuses a server that reads another source or that another live session holds, unless
    /// forced. Returns this process's session lock when it already holds the server.
    /// </summary>
    private async Task<long?> CheckSessionAsync(
        NpgsqlConnection connection, SetupRecord.Identity identity, TargetCatalog.ForeignServer server, SetupRecord.Entry ours, CancellationToken cancellationToken)
    {
        var wanted = ServerAddress();
        server.Options.TryGetValue("host", out var host);
        server.Options.TryGetValue("port", out var port);
        server.Options.TryGetValue("dbname", out var dbname);
        var current = $"{host}:{port}/{dbname}";
        var who = $"set up by role \"{ours.SetUpBy}\" from {ours.SessionClient} at {ours.SetUpAt.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)} UTC";
        var mine = LiveSessions.OursFor(identity, settings.ServerName) == ours.SessionLock ? ours.SessionLock : (long?)null;
        if (current != wanted.ToString())
        {
            if (!settings.Force)
            {
                throw new ConfitureException(ConfitureErrorKind.ServerInUse,
                    $"The foreign server \"{settings.ServerName}\" on the target reads another source ({current}, {who}), not {wanted}.",
                    settings.ServerName,
                    "Pass another -ServerName for this source, so each session keeps its own server; -Force repoints this one, and every session using it would then read this source.");
            }

            observer.Warning($"Repointing the foreign server \"{settings.ServerName}\" from {current} to {wanted} (-Force); it was {who}.");
        }
        else if (await LiveSessions.IsLiveAsync(connection, identity, ours.SessionLock, cancellationToken).ConfigureAwait(false))
        {
            if (mine is not null)
            {
                return mine;
            }

            if (!settings.Force)
            {
                throw new ConfitureException(ConfitureErrorKind.ServerInUse,
                    $"The foreign server \"{settings.ServerName}\" on the target belongs to another live Confiture session ({who}).",
                    settings.ServerName,
                    "Let that session finish (Remove-ConfitureFdw), pass another -ServerName, or -Force to take the server over.");
            }

            observer.Warning($"Taking over the foreign server \"{settings.ServerName}\" from a live session (-Force); it was {who}.");
        }

        return null;
    }

    /// <summary>What the record listed that still exists and is not replaced by this run: other roles' mappings, the schemas it created.</summary>
    private static async Task<List<SetupRecord.Item>> StillThereAsync(
        NpgsqlConnection connection, TargetCatalog.ForeignServer? server, string user, SetupRecord.Entry ours, CancellationToken cancellationToken)
    {
        var kept = new List<SetupRecord.Item>();
        var schemas = await SqlExecutor.ListAsync(connection, "SELECT nspname::text FROM pg_namespace", r => r.GetString(0), cancellationToken).ConfigureAwait(false);
        kept.AddRange(ours.Of(SetupRecord.SchemaKind).Where(i => schemas.Contains(i.Name, StringComparer.Ordinal)));
        // A change stream's publication and slot live on the source: the stream's own setup and cleanup settle them.
        kept.AddRange(ours.Of(SetupRecord.Publication).Concat(ours.Of(SetupRecord.ReplicationSlot)));
        if (server is not null)
        {
            var mappings = await SqlExecutor.ListAsync(connection,
                "SELECT usename::text FROM pg_user_mappings WHERE srvid = $1", r => r.GetString(0), cancellationToken, server.Oid).ConfigureAwait(false);
            kept.AddRange(ours.Of(SetupRecord.UserMapping).Where(i => i.Name != user && mappings.Contains(i.Name, StringComparer.Ordinal)));
        }

        return kept;
    }

    /// <summary>The foreign tables the record lists that still exist on this server, with their OIDs.</summary>
    internal static async Task<List<(uint Oid, string Schema, string Table)>> OwnedForeignTablesAsync(
        NpgsqlConnection connection, uint serverOid, SetupRecord.Entry ours, CancellationToken cancellationToken)
    {
        var listed = ours.Of(SetupRecord.ForeignTable).ToList();
        return await SqlExecutor.ListAsync(connection,
            """
            SELECT c.oid, n.nspname::text, c.relname::text
            FROM unnest($2::text[], $3::text[]) AS l (schema_name, name)
            JOIN pg_namespace n ON n.nspname = l.schema_name
            JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = l.name
            JOIN pg_foreign_table ft ON ft.ftrelid = c.oid AND ft.ftserver = $1
            ORDER BY 2, 3
            """,
            r => (r.GetFieldValue<uint>(0), r.GetString(1), r.GetString(2)), cancellationToken,
            serverOid, listed.Select(i => i.Schema).ToArray(), listed.Select(i => i.Name).ToArray()).ConfigureAwait(false);
    }

    private string ImportStatement(IReadOnlyList<string> tables) =>
        $"IMPORT FOREIGN SCHEMA {SqlText.Identifier(settings.SourceSchema)} LIMIT TO ({SqlText.IdentifierList(tables)}) FROM SERVER {SqlText.Identifier(settings.ServerName)} INTO {SqlText.Identifier(settings.ForeignSchema)}";

    private static Task<bool> ExtensionInstalledAsync(NpgsqlConnection connection, CancellationToken cancellationToken) =>
        SqlExecutor.ScalarAsync<bool>(connection, "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = $1)", cancellationToken, Wrapper);

    private static async Task PlanExtensionAsync(NpgsqlConnection connection, bool isSuperuser, string user, List<Step> steps, CancellationToken cancellationToken)
    {
        var installed = await ExtensionInstalledAsync(connection, cancellationToken).ConfigureAwait(false);
        var grant = $"GRANT USAGE ON FOREIGN DATA WRAPPER {Wrapper} TO {SqlText.Identifier(user)};";
        if (!installed)
        {
            var available = await SqlExecutor.ScalarAsync<bool>(connection,
                "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = $1)", cancellationToken, Wrapper).ConfigureAwait(false);
            if (!available)
            {
                throw new ConfitureException(ConfitureErrorKind.FdwNotAvailable,
                    "The extension postgres_fdw is not installed on the target server's machine.",
                    Wrapper, "Install PostgreSQL's contrib modules on the target server (Debian: apt-get install postgresql-contrib).");
            }

            if (!isSuperuser)
            {
                throw new ConfitureException(ConfitureErrorKind.FdwExtensionMissing,
                    $"The extension postgres_fdw does not exist in the target database and role \"{user}\" is not allowed to create it.",
                    Wrapper, $"Ask a superuser to run, in the target database: CREATE EXTENSION postgres_fdw; {grant}");
            }

            steps.Add(new Step(SqlStatement.Plain($"CREATE EXTENSION IF NOT EXISTS {Wrapper}")));
            return;
        }

        var mayUse = isSuperuser || await SqlExecutor.ScalarAsync<bool>(connection,
            "SELECT has_foreign_data_wrapper_privilege($1, 'USAGE')", cancellationToken, Wrapper).ConfigureAwait(false);
        if (!mayUse)
        {
            throw new ConfitureException(ConfitureErrorKind.FdwUsageDenied,
                $"Role \"{user}\" lacks USAGE on the foreign-data wrapper postgres_fdw in the target database.",
                Wrapper, $"Ask a superuser to run, in the target database: {grant}");
        }
    }

    private async Task<Step> PlanUserMappingAsync(NpgsqlConnection connection, TargetCatalog.ForeignServer? server, string serverName, CancellationToken cancellationToken)
    {
        var password = SourcePassword.Resolve(source).Password;
        string[]? existing = null;
        if (server is not null)
        {
            var rows = await SqlExecutor.ListAsync(connection,
                "SELECT coalesce(umoptions, '{}') FROM pg_user_mappings WHERE srvid = $1 AND usename = current_user",
                r => r.GetFieldValue<string[]>(0), cancellationToken, server.Oid).ConfigureAwait(false);
            existing = rows.Count > 0 ? rows[0] : null;
        }

        var user = SqlText.Literal(source.Username);
        string head;
        string tail;
        if (existing is null)
        {
            head = $"CREATE USER MAPPING FOR CURRENT_USER SERVER {serverName} OPTIONS (user {user}";
            tail = ")";
        }
        else
        {
            var current = existing.Select(o => o.Split('=', 2)[0]).ToHashSet(StringComparer.Ordinal);
            head = $"ALTER USER MAPPING FOR CURRENT_USER SERVER {serverName} OPTIONS ({(current.Contains("user") ? "SET" : "ADD")} user {user}";
            if (password is not null)
            {
                head += $", {(current.Contains("password") ? "SET" : "ADD")} password";
            }
            else if (current.Contains("password"))
            {
                head += ", DROP password";
            }

            tail = ")";
        }

        if (password is null)
        {
            return new Step(SqlStatement.Plain(head + tail));
        }

        if (existing is null)
        {
            head += ", password";
        }

        return new Step(new SqlStatement(string.Empty, $"{head} '********'{tail}"), Mapping: new MappingText(head + " ", password, tail));
    }

    /// <summary>
    /// Plans the foreign schema; returns whether setup creates it. An existing schema must hold
    /// nothing but the foreign tables this server's record lists (which are replaced).
    /// </summary>
    private async Task<bool> PlanForeignSchemaAsync(
        NpgsqlConnection connection, IReadOnlyList<(uint Oid, string Schema, string Table)> owned, List<Step> steps, CancellationToken cancellationToken)
    {
        var schemaName = SqlText.Identifier(settings.ForeignSchema);
        var schema = await TargetCatalog.FindSchemaAsync(connection, settings.ForeignSchema, cancellationToken).ConfigureAwait(false);
        if (schema is null)
        {
            var mayCreate = await SqlExecutor.ScalarAsync<bool>(connection,
                "SELECT has_database_privilege(current_database(), 'CREATE')", cancellationToken).ConfigureAwait(false);
            if (!mayCreate)
            {
                throw new ConfitureException(ConfitureErrorKind.SchemaCreateDenied,
                    $"The target user may not create schema \"{settings.ForeignSchema}\" (no CREATE privilege on the database).",
                    settings.ForeignSchema, "Ask the database owner to GRANT CREATE ON DATABASE to the migration role, or create the schema and grant it CREATE on it.");
            }

            steps.Add(new Step(SqlStatement.Plain($"CREATE SCHEMA {schemaName}")));
            steps.Add(new Step(SqlStatement.Plain($"COMMENT ON SCHEMA {schemaName} IS {SqlText.Literal(ConfitureMarker.Comment)}")));
            return true;
        }

        var others = await TargetCatalog.OtherObjectsInSchemaAsync(connection, schema.Oid, owned.Select(t => t.Oid).ToArray(), cancellationToken).ConfigureAwait(false);
        if (others.Count > 0)
        {
            var shown = string.Join(", ", others.Take(10)) + (others.Count > 10 ? $" and {others.Count - 10} more" : string.Empty);
            throw new ConfitureException(ConfitureErrorKind.ForeignSchemaNotEmpty,
                $"Schema \"{settings.ForeignSchema}\" on the target holds objects that this server's setup did not import: {shown}.",
                settings.ForeignSchema, "Pass a -ForeignSchema that is new or empty; Confiture never imports over objects it did not create.");
        }

        var mayCreateIn = await SqlExecutor.ScalarAsync<bool>(connection,
            "SELECT has_schema_privilege($1::oid, 'CREATE')", cancellationToken, schema.Oid).ConfigureAwait(false);
        if (!mayCreateIn)
        {
            throw new ConfitureException(ConfitureErrorKind.PermissionDenied,
                $"The target user may not create foreign tables in schema \"{settings.ForeignSchema}\".",
                settings.ForeignSchema, $"Ask its owner to run: GRANT CREATE, USAGE ON SCHEMA {schemaName} TO <migration role>;");
        }

        return false;
    }

    /// <summary>The source as the foreign server reaches it.</summary>
    private DatabaseAddress ServerAddress() =>
        new(settings.SourceHostForTarget ?? source.Host, settings.SourcePortForTarget ?? source.Port, source.Database);

    private Dictionary<string, string> ServerOptions()
    {
        var address = ServerAddress();
        var options = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["host"] = address.Host,
            ["port"] = address.Port.ToString(CultureInfo.InvariantCulture),
            ["dbname"] = address.Database,
            ["fetch_size"] = settings.FetchSize.ToString(CultureInfo.InvariantCulture),
        };
        if (source.SslMode != "prefer")
        {
            options["sslmode"] = source.SslMode;
        }

        return options;
    }

    private static List<string> OptionChanges(IReadOnlyDictionary<string, string> current, Dictionary<string, string> wanted, IEnumerable<string> managed)
    {
        var changes = new List<string>();
        foreach (var (key, value) in wanted)
        {
            if (!current.TryGetValue(key, out var existing))
            {
                changes.Add($"ADD {key} {SqlText.Literal(value)}");
            }
            else if (existing != value)
            {
                changes.Add($"SET {key} {SqlText.Literal(value)}");
            }
        }

        changes.AddRange(managed.Where(k => current.ContainsKey(k) && !wanted.ContainsKey(k)).Select(k => $"DROP {k}"));
        return changes;
    }

    /// <param name="ex">The server's error.</param>
    /// <param name="statement">The statement that failed.</param>
    /// <param name="inner">The error to keep as inner exception: null when the statement holds a secret, which the server error would carry along.</param>
    private ConfitureException Translate(PostgresException ex, SqlStatement statement, Exception? inner) => ex.SqlState switch
    {
        PostgresErrorCodes.InsufficientPrivilege => new ConfitureException(ConfitureErrorKind.PermissionDenied,
            $"The target server denied a privilege: {ex.MessageText}", settings.ServerName,
            "Grant the migration role what the message names, or run as the owner of the objects.", inner),
        PostgresErrorCodes.SqlClientUnableToEstablishSqlConnection or PostgresErrorCodes.FdwUnableToEstablishConnection
            or PostgresErrorCodes.ConnectionException or PostgresErrorCodes.InvalidPassword or PostgresErrorCodes.InvalidAuthorizationSpecification
            or PasswordRequired => new ConfitureException(ConfitureErrorKind.FdwConnectionFailed,
            $"The target server could not connect to the source at {ServerAddress()}: {ex.MessageText}",
            settings.ServerName,
            ex.SqlState == PasswordRequired && SourcePassword.Resolve(source) is { Password: null } none
                ? $"postgres_fdw requires a password in the user mapping of a role that is not a superuser, and the source connection gave none (looked in: {none.Origin}). Pass it: Connect-ConfitureDatabase -Credential, Password= in the connection string, PGPASSWORD, or a line for the source in the password file."
                : "Check that the target server can reach the source at that address (use -SourceHostForTarget when it sees the source under another name) and that the source accepts the password.", inner),
        _ => new ConfitureException(ConfitureErrorKind.FdwSetupFailed,
            $"Setting up postgres_fdw failed at \"{statement.Display}\": {ex.MessageText}", settings.ServerName,
            "Nothing was changed on the target; fix the cause and run Enable-ConfitureFdw again.", inner),
    };

    /// <summary>A user mapping statement cut around its password, which only the server puts together.</summary>
    private sealed record MappingText(string Head, string Password, string Tail);

    /// <summary>One planned statement; a mapping carries its secret apart, an import its tables.</summary>
    private sealed record Step(SqlStatement Statement, MappingText? Mapping = null, IReadOnlyList<string>? Import = null);

    /// <summary>What setup will do on the target, and what it keeps of the record.</summary>
    private sealed record TargetWork(IReadOnlyList<Step> Steps, SetupRecord.Identity Identity, string User, long? SessionLock, IReadOnlyList<SetupRecord.Item> Kept);
}
