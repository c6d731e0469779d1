using System.Globalization;
using Confiture.Core.Connections;
using Confiture.Core.Sql;
using Npgsql;

namespace Confiture.Core.Fdw;

/// <summary>
/// Works out and runs what makes the target able to read the source: the extension, a server that
/// points at the source's real address, a user mapping with the source credentials, and the
/// imported foreign tables. Run again, it takes over its own objects instead of failing.
/// </summary>
internal sealed class FdwSetup(DatabaseEndpoint source, DatabaseEndpoint target, FdwSettings settings, IOperationObserver observer)
{
    private const string Wrapper = "postgres_fdw";

    /// <summary>postgres_fdw's SQLSTATE when a non-superuser's mapping has no password or the source asked for none.</summary>
    private const string PasswordRequired = "2F003";

    /// <summary>The options Confiture owns on its server; others a DBA added are left alone.</summary>
    private static readonly string[] ManagedServerOptions = ["host", "port", "dbname", "fetch_size", "sslmode"];

    /// <summary>Inspects both databases and returns the statements setup would run; changes nothing.</summary>
    public async Task<FdwPlan> PlanAsync(CancellationToken cancellationToken)
    {
        var tables = await CheckSourceAsync(cancellationToken).ConfigureAwait(false);
        await using var connection = await target.OpenAsync(cancellationToken).ConfigureAwait(false);
        return new FdwPlan(await PlanTargetAsync(connection, tables, cancellationToken).ConfigureAwait(false), [], tables);
    }

    /// <summary>Runs setup in one target transaction: all of it or none.</summary>
    public async Task<FdwPlan> ApplyAsync(CancellationToken cancellationToken)
    {
        var tables = await CheckSourceAsync(cancellationToken).ConfigureAwait(false);
        await using var connection = await target.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var statements = await PlanTargetAsync(connection, tables, cancellationToken).ConfigureAwait(false);
        foreach (var statement in statements)
        {
            try
            {
                await SqlExecutor.ExecuteAsync(connection, statement, observer, cancellationToken).ConfigureAwait(false);
            }
            catch (PostgresException ex)
            {
                throw Translate(ex, statement, statement.Text == statement.Display ? ex : null);
            }
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return new FdwPlan(statements, [], tables);
    }

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

    private async Task<IReadOnlyList<SqlStatement>> PlanTargetAsync(NpgsqlConnection connection, IReadOnlyList<string> tables, CancellationToken cancellationToken)
    {
        var statements = new List<SqlStatement>();
        var isSuperuser = await SqlExecutor.ScalarAsync<bool>(connection,
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user", cancellationToken).ConfigureAwait(false);
        var user = await SqlExecutor.ScalarAsync<string>(connection, "SELECT current_user::text", cancellationToken).ConfigureAwait(false) ?? "?";

        await PlanExtensionAsync(connection, isSuperuser, user, statements, cancellationToken).ConfigureAwait(false);

        var server = await TargetCatalog.FindServerAsync(connection, settings.ServerName, cancellationToken).ConfigureAwait(false);
        var serverName = SqlText.Identifier(settings.ServerName);
        if (server is null)
        {
            statements.Add(SqlStatement.Plain(
                $"CREATE SERVER {serverName} FOREIGN DATA WRAPPER {Wrapper} OPTIONS ({string.Join(", ", ServerOptions().Select(o => $"{o.Key} {SqlText.Literal(o.Value)}"))})"));
            statements.Add(SqlStatement.Plain($"COMMENT ON SERVER {serverName} IS {SqlText.Literal(ConfitureMarker.Comment)}"));
        }
        else
        {
            if (server.Wrapper != Wrapper || !ConfitureMarker.IsOurs(server.Comment))
            {
                throw new ConfitureException(ConfitureErrorKind.ServerNotOwned,
                    $"A foreign server \"{settings.ServerName}\" already exists on the target and was not created by Confiture.",
                    settings.ServerName, "Pass another -ServerName; Confiture never changes a server it did not create.");
            }

            var changes = OptionChanges(server.Options, ServerOptions(), ManagedServerOptions);
            if (changes.Count > 0)
            {
                statements.Add(SqlStatement.Plain($"ALTER SERVER {serverName} OPTIONS ({string.Join(", ", changes)})"));
            }
        }

        statements.Add(await PlanUserMappingAsync(connection, server, serverName, cancellationToken).ConfigureAwait(false));
        await PlanForeignSchemaAsync(connection, server, statements, cancellationToken).ConfigureAwait(false);

        var limit = settings.Tables is { Count: > 0 } ? $" LIMIT TO ({SqlText.IdentifierList(tables)})" : string.Empty;
        statements.Add(SqlStatement.Plain(
            $"IMPORT FOREIGN SCHEMA {SqlText.Identifier(settings.SourceSchema)}{limit} FROM SERVER {serverName} INTO {SqlText.Identifier(settings.ForeignSchema)}"));
        return statements;
    }

    private static async Task PlanExtensionAsync(NpgsqlConnection connection, bool isSuperuser, string user, List<SqlStatement> statements, CancellationToken cancellationToken)
    {
        var installed = await SqlExecutor.ScalarAsync<bool>(connection,
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = $1)", cancellationToken, Wrapper).ConfigureAwait(false);
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

            statements.Add(SqlStatement.Plain($"CREATE EXTENSION IF NOT EXISTS {Wrapper}"));
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

    private async Task<SqlStatement> PlanUserMappingAsync(NpgsqlConnection connection, TargetCatalog.ForeignServer? server, string serverName, CancellationToken cancellationToken)
    {
        var wanted = new Dictionary<string, string>(StringComparer.Ordinal) { ["user"] = source.Username };
        if (source.Password is { Length: > 0 } password)
        {
            wanted["password"] = password;
        }

        string[]? existing = null;
        if (server is not null)
        {
            var rows = await SqlExecutor.ListAsync(connection,
                "SELECT coalesce(umoptions, '{}') FROM pg_user_mappings WHERE srvid = $1 AND usename = current_user",
                r => r.GetFieldValue<string[]>(0), cancellationToken, server.Oid).ConfigureAwait(false);
            existing = rows.Count > 0 ? rows[0] : null;
        }

        string Render(Func<string, string> value)
        {
            if (existing is null)
            {
                var created = wanted.Select(o => $"{o.Key} {value(o.Key)}");
                return $"CREATE USER MAPPING FOR CURRENT_USER SERVER {serverName} OPTIONS ({string.Join(", ", created)})";
            }

            var current = existing.Select(o => o.Split('=', 2)[0]).ToHashSet(StringComparer.Ordinal);
            var changes = wanted.Select(o => $"{(current.Contains(o.Key) ? "SET" : "ADD")} {o.Key} {value(o.Key)}")
                .Concat(current.Contains("password") && !wanted.ContainsKey("password") ? ["DROP password"] : []);
            return $"ALTER USER MAPPING FOR CURRENT_USER SERVER {serverName} OPTIONS ({string.Join(", ", changes)})";
        }

        return new SqlStatement(
            Render(key => SqlText.Literal(wanted[key])),
            Render(key => key == "password" ? "'********'" : SqlText.Literal(wanted[key])));
    }

    private async Task PlanForeignSchemaAsync(NpgsqlConnection connection, TargetCatalog.ForeignServer? server, List<SqlStatement> statements, CancellationToken cancellationToken)
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

            statements.Add(SqlStatement.Plain($"CREATE SCHEMA {schemaName}"));
            statements.Add(SqlStatement.Plain($"COMMENT ON SCHEMA {schemaName} IS {SqlText.Literal(ConfitureMarker.Comment)}"));
            return;
        }

        var others = await TargetCatalog.OtherObjectsInSchemaAsync(connection, schema.Oid, server?.Oid, cancellationToken).ConfigureAwait(false);
        if (others.Count > 0)
        {
            var shown = string.Join(", ", others.Take(10)) + (others.Count > 10 ? $" and {others.Count - 10} more" : string.Empty);
            throw new ConfitureException(ConfitureErrorKind.ForeignSchemaNotEmpty,
                $"Schema \"{settings.ForeignSchema}\" on the target holds objects that are not this server's foreign tables: {shown}.",
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

        if (server is not null)
        {
            // A re-run (or a run after a crash) replaces the foreign tables it imported before.
            foreach (var (tableSchema, table) in await TargetCatalog.ForeignTablesAsync(connection, server.Oid, schema.Oid, cancellationToken).ConfigureAwait(false))
            {
                statements.Add(SqlStatement.Plain($"DROP FOREIGN TABLE {SqlText.Qualified(tableSchema, table)}"));
            }
        }
    }

    private Dictionary<string, string> ServerOptions()
    {
        var options = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["host"] = settings.SourceHostForTarget ?? source.Host,
            ["port"] = (settings.SourcePortForTarget ?? source.Port).ToString(CultureInfo.InvariantCulture),
            ["dbname"] = source.Database,
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
            $"The target server could not connect to the source at {settings.SourceHostForTarget ?? source.Host}:{settings.SourcePortForTarget ?? source.Port}/{source.Database}: {ex.MessageText}",
            settings.ServerName,
            "Check that the target server can reach the source at that address (use -SourceHostForTarget when it sees the source under another name) and that the source accepts the password.", inner),
        _ => new ConfitureException(ConfitureErrorKind.FdwSetupFailed,
            $"Setting up postgres_fdw failed at \"{statement.Display}\": {ex.MessageText}", settings.ServerName,
            "Nothing was changed on the target; fix the cause and run Enable-ConfitureFdw again.", inner),
    };
}
