<#
.SYNOPSIS
    Runs a whole Confiture migration on a small dataset, from setup to cleanup.
.DESCRIPTION
    Creates two fresh databases with unique names (confiture_demo_<random>_src on the source
    server, confiture_demo_<random>_tgt on the target server), loads an "old" schema with users,
    posts and comments into the first, creates the "new" schema in the second (renamed and dropped
    columns), then migrates, verifies and cleans up with the Confiture cmdlets, step by step.
    It always drops the two databases at the end, and touches nothing else on the servers.

    It throws (so the process exits non-zero) when any check does not match.

    Needs psql on PATH: the module moves data, so the demo creates databases and tables with psql.
.PARAMETER SourceConnectionString
    A keyword connection string (Host=...;Port=...;Username=...;Password=...) for a role on the
    source server that may create databases, e.g. a superuser. Its Database is not used.
.PARAMETER TargetConnectionString
    The same for the target server. The role must be able to create postgres_fdw in a new database
    (a superuser can). Source and target may be the same server.
.PARAMETER ModulePath
    The module to import; by default the one build.ps1 Build leaves in out/Confiture.
.PARAMETER SourceHostForTarget
    The source's host as the target server sees it, when it differs from this machine's view.
.PARAMETER SourcePortForTarget
    The source's port as the target server sees it, when it differs from this machine's view.
.EXAMPLE
    ./examples/demo.ps1 -SourceConnectionString 'Host=old-db;Username=postgres;Password=...' -TargetConnectionString 'Host=new-db;Username=postgres;Password=...'
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)][string] $SourceConnectionString,
    [Parameter(Mandatory)][string] $TargetConnectionString,
    [string] $ModulePath = (Join-Path $PSScriptRoot '../out/Confiture/Confiture.psd1'),
    [string] $SourceHostForTarget,
    [ValidateRange(1, 65535)][int] $SourcePortForTarget
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
# In a log (build.ps1, CI) progress bars and colour codes are noise.
$savedRendering = $PSStyle.OutputRendering
if ([Console]::IsOutputRedirected) {
    $ProgressPreference = 'SilentlyContinue'
    $PSStyle.OutputRendering = 'PlainText'
}

# --- Helpers: psql for what the module does not do (databases, DDL, looking at the data) -------

function Get-Server([string] $ConnectionString, [string] $Side) {
    if ($ConnectionString -match '^\s*postgres(ql)?://') {
        throw "The demo reads keyword connection strings (Host=...;Port=...;Username=...;Password=...); pass the $Side server in that form."
    }
    # DbConnectionStringBuilder is an IDictionary: PowerShell's `.ConnectionString = ...` would add a
    # key named ConnectionString instead of parsing it, so call the property's accessors themselves.
    $builder = [System.Data.Common.DbConnectionStringBuilder]::new()
    $builder.set_ConnectionString($ConnectionString)
    $get = { param([string[]] $names) foreach ($n in $names) { if ($builder.ContainsKey($n)) { return [string]$builder[$n] } } }
    $sslMode = & $get @('SSL Mode', 'SslMode', 'sslmode')
    [pscustomobject]@{
        Side       = $Side
        Host       = & $get @('Host', 'Server')
        Port       = & $get @('Port')
        Username   = & $get @('Username', 'User Name', 'User Id', 'UserId', 'User')
        Password   = & $get @('Password', 'Pwd')
        # libpq spells Npgsql's VerifyCA/VerifyFull as verify-ca/verify-full.
        SslMode    = if ($sslMode) { ($sslMode -replace '^verify-?', 'verify-').ToLowerInvariant() } else { $null }
        Connection = $ConnectionString
    }
}

function Get-DatabaseConnectionString($Server, [string] $Database) {
    $builder = [System.Data.Common.DbConnectionStringBuilder]::new()
    $builder.set_ConnectionString($Server.Connection)
    foreach ($alias in 'Database', 'DB') { [void]$builder.Remove($alias) }
    $builder['Database'] = $Database
    $builder.get_ConnectionString()
}

function Set-EnvironmentVariable([string] $Name, [AllowNull()][string] $Value) {
    # PowerShell turns $null into '' for a .NET string argument; an empty PGSSLMODE is an error to psql.
    if ([string]::IsNullOrEmpty($Value)) { Remove-Item "env:$Name" -ErrorAction Ignore } else { Set-Item "env:$Name" $Value }
}

function Invoke-Psql {
    <# Runs SQL on one server with psql; returns the rows as tab-separated lines, or with -Show prints psql's table. #>
    param([Parameter(Mandatory)] $Server, [Parameter(Mandatory)][string] $Database, [Parameter(Mandatory)][string] $Sql, [switch] $Show)
    $saved = @{}
    $environment = @{
        PGPASSWORD = $Server.Password; PGSSLMODE = $Server.SslMode; PGCLIENTENCODING = 'UTF8'; PGTZ = 'UTC'
        PGOPTIONS = '-c client_min_messages=warning'; PGAPPNAME = 'confiture-demo'
    }
    $savedEncoding = [Console]::OutputEncoding
    try {
        foreach ($name in $environment.Keys) {
            $saved[$name] = [Environment]::GetEnvironmentVariable($name)
            Set-EnvironmentVariable $name $environment[$name]
        }
        [Console]::OutputEncoding = [System.Text.UTF8Encoding]::new($false)
        $arguments = @('-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $Database, '-f', '-')
        if ($Server.Host) { $arguments += @('-h', $Server.Host) }
        if ($Server.Port) { $arguments += @('-p', $Server.Port) }
        if ($Server.Username) { $arguments += @('-U', $Server.Username) }
        if (-not $Show) { $arguments += @('-A', '-t', '-F', "`t") }
        $output = $Sql | & psql @arguments 2>&1
        if ($LASTEXITCODE -ne 0) { throw "psql failed on the $($Server.Side) server, database ${Database}: $($output -join [Environment]::NewLine)" }
        if ($Show) { $output | Out-Host } else { $output | Where-Object { "$_" -ne '' } | ForEach-Object { "$_" } }
    }
    finally {
        foreach ($name in $saved.Keys) { Set-EnvironmentVariable $name $saved[$name] }
        [Console]::OutputEncoding = $savedEncoding
    }
}

function Remove-DemoDatabase($Server, [string] $Database) {
    # The module keeps pooled connections to the demo databases: end them with the drop.
    $version = [int](Invoke-Psql $Server postgres 'SHOW server_version_num')
    $sql = if ($version -ge 130000) {
        "DROP DATABASE IF EXISTS $Database WITH (FORCE)"
    }
    else {
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$Database' AND pid <> pg_backend_pid();`nDROP DATABASE IF EXISTS $Database"
    }
    Invoke-Psql $Server postgres $sql | Out-Null
}

function Write-Step([string] $Title) {
    Write-Host ''
    Write-Host $Title -ForegroundColor Cyan
}

function Assert-Demo([bool] $Condition, [string] $Message) {
    if (-not $Condition) { throw "Demo check failed: $Message" }
    Write-Host "  ok: $Message" -ForegroundColor Green
}

# --- The dataset --------------------------------------------------------------------------------

# The old schema, and ~10,000 deterministic rows with non-ASCII text, NULLs and arrays.
$sourceSql = @'
CREATE TABLE users (
    id         bigserial PRIMARY KEY,
    full_name  text NOT NULL,
    email      text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE posts (
    id           bigserial PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id),
    title        text NOT NULL,
    body         text NOT NULL,
    published_at timestamptz,
    tags         text[] NOT NULL DEFAULT '{}'
);
CREATE TABLE comments (
    id         bigserial PRIMARY KEY,
    post_id    bigint NOT NULL REFERENCES posts (id),
    user_id    bigint NOT NULL REFERENCES users (id),
    body       text NOT NULL,
    created_at timestamptz NOT NULL,
    ip_address inet
);

INSERT INTO users (full_name, email, created_at)
SELECT f.names[1 + i % 12] || ' ' || l.names[1 + (i * 7) % 11],
       format('user%s@example.org', i),
       timestamptz '2021-01-01 00:00:00+00' + i * interval '97 minutes'
FROM generate_series(1, 1000) AS i,
     (VALUES (ARRAY['Zoë', 'José', 'Łukasz', 'Søren', 'Chloé', 'Björn', 'Renée', 'Çağla', 'Nguyễn', 'Αλέξης', 'Наталья', '美咲'])) AS f (names),
     (VALUES (ARRAY['Müller', 'García', 'Ødegaard', 'Nowak', 'Dubois', 'Öztürk', 'Łęcka', 'Ferreira', 'Núñez', 'Håkansson', 'Ito'])) AS l (names)
ORDER BY i;

INSERT INTO posts (user_id, title, body, published_at, tags)
SELECT 1 + (i * 37) % 1000,
       format('Post %s: %s', i, (ARRAY['Notes on résumés', 'Crème brûlée at home', 'Über PostgreSQL', 'Naïve Bayes, explained', 'Smörgåsbord of links', 'Ελληνικά for beginners'])[1 + i % 6]),
       repeat(format('Paragraph %s of post %s. ', i % 5, i), 1 + i % 20),
       CASE WHEN i % 10 = 0 THEN NULL ELSE timestamptz '2022-03-01 09:00:00+00' + i * interval '5 hours' END,
       CASE i % 4 WHEN 0 THEN '{}'::text[] WHEN 1 THEN ARRAY['postgres'] WHEN 2 THEN ARRAY['postgres', 'migration'] ELSE ARRAY['café', 'naïve', '日本語'] END
FROM generate_series(1, 3000) AS i
ORDER BY i;

INSERT INTO comments (post_id, user_id, body, created_at, ip_address)
SELECT 1 + (i * 13) % 3000,
       1 + (i * 101) % 1000,
       format('Comment %s: merci, danke, спасибо, ありがとう', i),
       timestamptz '2023-01-01 00:00:00+00' + i * interval '11 minutes',
       CASE WHEN i % 3 = 0 THEN NULL ELSE format('10.0.%s.%s', (i / 256) % 256, i % 256)::inet END
FROM generate_series(1, 6000) AS i
ORDER BY i;

ANALYZE;
'@

# The new schema: users.full_name is now display_name and created_at is gone, posts.body is now
# content, comments lost ip_address and its id is GENERATED ALWAYS. Confiture moves data, not DDL.
$targetSql = @'
CREATE TABLE users (
    id           bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    display_name text NOT NULL,
    email        text UNIQUE
);
CREATE TABLE posts (
    id           bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id),
    title        text NOT NULL,
    content      text NOT NULL,
    published_at timestamptz,
    tags         text[] NOT NULL DEFAULT '{}'
);
CREATE TABLE comments (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    post_id    bigint NOT NULL REFERENCES posts (id),
    user_id    bigint NOT NULL REFERENCES users (id),
    body       text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX ON posts (user_id);
CREATE INDEX ON comments (post_id);
'@

# A digest of each table's content, in the same column order on both sides, to compare after the move.
$digestSql = @{
    source = @'
SELECT 'users', md5(string_agg(concat_ws('|', id, full_name, email), E'\n' ORDER BY id)) FROM users
UNION ALL SELECT 'posts', md5(string_agg(concat_ws('|', id, user_id, title, body, published_at, tags), E'\n' ORDER BY id)) FROM posts
UNION ALL SELECT 'comments', md5(string_agg(concat_ws('|', id, post_id, user_id, body, created_at), E'\n' ORDER BY id)) FROM comments
'@
    target = @'
SELECT 'users', md5(string_agg(concat_ws('|', id, display_name, email), E'\n' ORDER BY id)) FROM users
UNION ALL SELECT 'posts', md5(string_agg(concat_ws('|', id, user_id, title, content, published_at, tags), E'\n' ORDER BY id)) FROM posts
UNION ALL SELECT 'comments', md5(string_agg(concat_ws('|', id, post_id, user_id, body, created_at), E'\n' ORDER BY id)) FROM comments
'@
}

# --- The demo -------------------------------------------------------------------------------------

$sourceServer = Get-Server $SourceConnectionString 'source'
$targetServer = Get-Server $TargetConnectionString 'target'
$suffix = [Guid]::NewGuid().ToString('N').Substring(0, 10)
$sourceDb = "confiture_demo_${suffix}_src"
$targetDb = "confiture_demo_${suffix}_tgt"
$created = [System.Collections.Generic.List[object]]::new()
$clock = [System.Diagnostics.Stopwatch]::StartNew()

# A relative -ModulePath is relative to the current directory.
Import-Module (Resolve-Path -LiteralPath $ModulePath).ProviderPath -Force

try {
    Write-Step "0. Prepare: database $sourceDb (old schema, with data) and $targetDb (new schema, empty)"
    foreach ($pair in @(@($sourceServer, $sourceDb), @($targetServer, $targetDb))) {
        Invoke-Psql $pair[0] postgres "CREATE DATABASE $($pair[1]) TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'" | Out-Null
        $created.Add($pair)
    }
    Invoke-Psql $sourceServer $sourceDb $sourceSql | Out-Null
    Invoke-Psql $targetServer $targetDb $targetSql | Out-Null
    Invoke-Psql $sourceServer $sourceDb @'
SELECT 'users' AS "table", count(*) AS "rows" FROM users
UNION ALL SELECT 'posts', count(*) FROM posts
UNION ALL SELECT 'comments', count(*) FROM comments
'@ -Show

    Write-Step '1. Connect to both databases'
    $src = Connect-ConfitureDatabase -ConnectionString (Get-DatabaseConnectionString $sourceServer $sourceDb) -Name source
    $tgt = Connect-ConfitureDatabase -ConnectionString (Get-DatabaseConnectionString $targetServer $targetDb) -Name target
    $src, $tgt | Format-Table Name, Host, Port, Database, User, ServerVersion | Out-Host

    Write-Step '2. Set up postgres_fdw on the target (server, user mapping, foreign tables in old_schema)'
    $fdw = @{ Source = $src; Target = $tgt; ForeignSchema = 'old_schema' }
    if ($SourceHostForTarget) { $fdw.SourceHostForTarget = $SourceHostForTarget }
    if ($SourcePortForTarget) { $fdw.SourcePortForTarget = $SourcePortForTarget }
    # -Verbose shows each statement it runs; the source password is masked.
    $m = Enable-ConfitureFdw @fdw -Verbose
    $m | Format-List Source, Target, ServerName, ForeignSchema, SourceSchema, Tables | Out-Host

    Write-Step '3. Ask for the faster strategy per table'
    $m | Get-ConfitureStrategy | Format-Table Table, Schema, RowCount, Strategy, EstimatedSeconds | Out-Host

    Write-Step '4. Migrate each table (one target transaction per table)'
    Write-Host '  users: FDW (INSERT ... SELECT on the target), full_name -> display_name, created_at left behind'
    $users = Invoke-ConfitureTableMigration -Migration $m -SourceTable users -Strategy Fdw `
        -ColumnMapping ([ordered]@{ id = 'id'; full_name = 'display_name'; email = 'email' })
    Write-Host '  posts: binary COPY from the source connection into the target connection, body -> content'
    $posts = Invoke-ConfitureTableMigration -Migration $m -SourceTable posts -Strategy Copy `
        -ColumnMapping ([ordered]@{ id = 'id'; user_id = 'user_id'; title = 'title'; body = 'content'; published_at = 'published_at'; tags = 'tags' })
    Write-Host '  comments: the planner''s advice piped in, every column the two tables share (ip_address is not on the target)'
    $comments = $m | Get-ConfitureStrategy -Table comments | Invoke-ConfitureTableMigration
    $results = @($users, $posts, $comments)
    $results | Format-Table SourceTable, TargetTable, Strategy, RowsMigrated,
        @{ Name = 'Elapsed'; Expression = { '{0:N2} s' -f $_.Elapsed.TotalSeconds } },
        @{ Name = 'RowsPerSecond'; Expression = { '{0:N0}' -f $_.RowsPerSecond } } | Out-Host
    foreach ($result in $results) {
        $mapping = ($result.ColumnMapping.GetEnumerator() | ForEach-Object { if ($_.Key -eq $_.Value) { $_.Key } else { "$($_.Key) -> $($_.Value)" } }) -join ', '
        Write-Host ("  {0,-9} columns moved: {1}" -f $result.SourceTable, $mapping)
    }

    Write-Step '5. Verify: read on each server directly, never through the foreign tables'
    # The results carry their table names (users -> users, ...), so they pipe straight in. -Checksum
    # also compares a digest of the content, when this build of the module has it.
    $checksum = @{}
    if ((Get-Command Test-ConfitureMigration).Parameters.ContainsKey('Checksum')) { $checksum.Checksum = $true }
    $checks = @($results | Test-ConfitureMigration @checksum)
    $checks | Select-Object -Property * -ExcludeProperty Migration, SourceSchema, TargetSchema | Format-Table | Out-Host
    Assert-Demo ($checks.Count -eq 3 -and @($checks | Where-Object { -not $_.Match }).Count -eq 0) "all three tables match on both sides$(if ($checksum.Count) { ' (row counts and checksums)' } else { ' (row counts)' })"
    Assert-Demo ((Test-ConfitureMigration -Migration $m -Quiet) -eq $true) 'Test-ConfitureMigration -Quiet over every imported table says $true'

    Write-Step '6. Look at the data on the target'
    Invoke-Psql $targetServer $targetDb 'SELECT id, display_name, email FROM users ORDER BY id LIMIT 5' -Show
    Invoke-Psql $targetServer $targetDb 'SELECT id, user_id, title, published_at, tags FROM posts ORDER BY id LIMIT 4' -Show
    $sourceDigests = Invoke-Psql $sourceServer $sourceDb $digestSql.source
    $targetDigests = Invoke-Psql $targetServer $targetDb $digestSql.target
    Assert-Demo (($sourceDigests -join ',') -eq ($targetDigests -join ',')) 'every mapped value is the same on both sides (md5 of each table, by psql)'

    Write-Step '7. Sequences followed the data: a new user on the target gets the next free id'
    $maxId = [long](Invoke-Psql $sourceServer $sourceDb 'SELECT max(id) FROM users')
    $newId = [long](Invoke-Psql $targetServer $targetDb "INSERT INTO users (display_name, email) VALUES ('Émilie Nouvelle', 'emilie@example.org') RETURNING id")
    Write-Host "  largest migrated users.id: $maxId; id of the user inserted after the migration: $newId"
    Assert-Demo ($newId -gt $maxId) 'the users identity sequence was moved past the migrated ids'
    $newCommentId = [long](Invoke-Psql $targetServer $targetDb 'INSERT INTO comments (post_id, user_id, body, created_at) VALUES (1, 1, ''Première !'', now()) RETURNING id')
    Assert-Demo ($newCommentId -gt 6000) "the comments GENERATED ALWAYS identity continues after 6000 (new id $newCommentId)"

    Write-Step '8. Clean up: remove the foreign tables, user mapping, server and old_schema from the target'
    $m | Remove-ConfitureFdw
    $left = Invoke-Psql $targetServer $targetDb @'
SELECT (SELECT count(*) FROM pg_foreign_server) + (SELECT count(*) FROM pg_user_mappings)
     + (SELECT count(*) FROM pg_foreign_table) + (SELECT count(*) FROM pg_namespace WHERE nspname = 'old_schema')
'@
    Assert-Demo ($left -eq '0') 'no foreign server, user mapping, foreign table or old_schema is left on the target'
    Assert-Demo ((Invoke-Psql $targetServer $targetDb 'SELECT count(*) FROM users') -eq '1001') 'the migrated data stays (1000 users + the new one)'

    Write-Host ''
    Write-Host ("Demo finished in {0:N1} s: 3 tables, {1:N0} rows migrated and verified." -f $clock.Elapsed.TotalSeconds, ($results | Measure-Object RowsMigrated -Sum).Sum) -ForegroundColor Green
}
finally {
    $PSStyle.OutputRendering = $savedRendering
    Write-Step 'Dropping the demo databases'
    foreach ($pair in $created) {
        try {
            Remove-DemoDatabase $pair[0] $pair[1]
            Write-Host "  dropped $($pair[1]) on the $($pair[0].Side) server"
        }
        catch {
            Write-Warning "Could not drop $($pair[1]) on the $($pair[0].Side) server; drop it by hand. $($_.Exception.Message)"
        }
    }
}
