<#
    Export-ConfitureReport: a run's results and verifications as one HTML page (rendered and read
    back in a real headless Chromium), Markdown and JSON; names encoded, no secret, nothing loaded
    from anywhere.
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force

    $chromium = '/usr/bin/chromium'
    $artifacts = Join-Path $PSScriptRoot '../../out/test-results/report'
    New-Item -ItemType Directory -Path $artifacts -Force | Out-Null
    $artifacts = (Resolve-Path $artifacts).Path

    function Invoke-Chromium([string[]] $Arguments) {
        <# Headless Chromium with a profile of its own and nothing that reaches the network on its own. #>
        $profile = Join-Path ([IO.Path]::GetTempPath()) ('confiture-chromium-' + [Guid]::NewGuid().ToString('N'))
        New-Item -ItemType Directory -Path $profile | Out-Null
        try {
            $all = @('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
                '--disable-component-update', '--disable-sync', "--user-data-dir=$profile") + $Arguments
            $output = & $chromium @all 2>$null
            if ($LASTEXITCODE -ne 0) { throw "chromium failed ($LASTEXITCODE)" }
            $output -join "`n"
        }
        finally {
            Remove-Item $profile -Recurse -Force -ErrorAction SilentlyContinue
        }
    }

    $hostile = "<script>document.title='pwned'</script>"
    $pair = New-TestDatabasePair
    $qh = ConvertTo-SqlIdentifier $hostile
    Invoke-TestSql -Side Source -Database $pair.Database -Sql @"
CREATE TABLE customers (id int PRIMARY KEY, full_name text NOT NULL, email text);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customers, total numeric(12,2), placed_at timestamptz NOT NULL);
CREATE TABLE order_lines (id bigint PRIMARY KEY, order_id int NOT NULL REFERENCES orders, sku text NOT NULL, qty int NOT NULL);
CREATE TABLE $qh (id int PRIMARY KEY);
INSERT INTO customers SELECT g, 'Customer ' || g, 'c' || g || '@example.org' FROM generate_series(1, 2500) g;
INSERT INTO orders SELECT g, 1 + g % 2500, g * 1.25, timestamptz '2024-01-01 00:00+00' + g * interval '1 minute' FROM generate_series(1, 20000) g;
INSERT INTO order_lines SELECT g, 1 + g % 20000, 'SKU-' || (g % 97), 1 + g % 5 FROM generate_series(1, 60000) g;
INSERT INTO $qh SELECT generate_series(1, 3);
GRANT SELECT ON ALL TABLES IN SCHEMA public TO PUBLIC;
"@ | Out-Null
    Invoke-TestSql -Side Target -Database $pair.Database -AsMigrator -Sql @"
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, email text);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customers, total numeric(12,2), placed_at timestamptz NOT NULL);
CREATE TABLE order_lines (id bigint PRIMARY KEY, order_id int NOT NULL REFERENCES orders, sku text NOT NULL, qty int NOT NULL);
CREATE TABLE $qh (id int PRIMARY KEY);
"@ | Out-Null
    $peer = Get-FdwAddressParameter $pair
    $m = Enable-ConfitureFdw -Source (Connect-ConfitureDatabase $pair.SourceMigrator -Name source) -Target (Connect-ConfitureDatabase $pair.TargetMigrator -Name target) @peer -Confirm:$false
    $map = @{ customers = @{ Rename = @{ full_name = 'name' } } }
    $results = @(Invoke-ConfitureTableMigration -Migration $m customers, orders, order_lines -Map $map -Force)
    $checks = @($results | Test-ConfitureMigration -Checksum)
    $odd = @(Invoke-ConfitureTableMigration -Migration $m -SourceTable $hostile -Force)
    $oddChecks = @($odd | Test-ConfitureMigration -Checksum)

    # What a DBA sees at 80 columns, kept beside the report (the README shows both).
    $savedRendering = $PSStyle.OutputRendering
    $PSStyle.OutputRendering = 'PlainText'
    ((($results | Format-Table | Out-String -Width 80).Trim()), (($checks | Format-Table | Out-String -Width 80).Trim())) -join "`n`n" |
        Set-Content (Join-Path $artifacts 'console-80.txt')
    $PSStyle.OutputRendering = $savedRendering

    $html = Join-Path $artifacts 'report.html'
    $written = $results + $checks | Export-ConfitureReport -Path $html -Title 'Shop migration'
}

AfterAll {
    if ($m) { $m | Remove-ConfitureFdw -Force -ErrorAction Continue }
    if ($pair) { Remove-TestDatabasePair $pair }
}

Describe 'Export-ConfitureReport' -Tag UnitTests {
    It 'takes -Path, -InputObject, -Format, -Title and -NoClobber' {
        Get-CommandParameterName Export-ConfitureReport | Sort-Object | Should -Be @('Format', 'InputObject', 'NoClobber', 'Path', 'Title')
    }
}

Describe 'An HTML report of a real run, in headless Chromium' -Tag IntegrationTests {
    It 'returns the file it wrote' {
        $written | Should -BeOfType ([IO.FileInfo])
        $written.FullName | Should -Be $html
    }

    It 'renders to a non-trivial screenshot' -Skip:(-not $IsLinux) {
        Test-Path $chromium | Should -BeTrue -Because 'build.ps1 Test installs Debian''s chromium package'
        $png = Join-Path $artifacts 'report.png'
        Remove-Item $png -ErrorAction SilentlyContinue
        $null = Invoke-Chromium @("--screenshot=$png", '--window-size=1200,900', ([Uri]::new('file://' + $html)).AbsoluteUri)
        Test-Path $png | Should -BeTrue
        $bytes = [IO.File]::ReadAllBytes($png)
        # A PNG of the window's size, and far larger than a blank page compresses to.
        [Text.Encoding]::ASCII.GetString($bytes, 1, 3) | Should -Be 'PNG'
        $size = { param($at) ([int]$bytes[$at] -shl 24) -bor ([int]$bytes[$at + 1] -shl 16) -bor ([int]$bytes[$at + 2] -shl 8) -bor $bytes[$at + 3] }
        & $size 16 | Should -Be 1200
        & $size 20 | Should -Be 900
        $bytes.Length | Should -BeGreaterThan 20000
    }

    It 'shows the tables, their row counts and Match in the page text' -Skip:(-not $IsLinux) {
        $dom = Invoke-Chromium @('--dump-dom', ([Uri]::new('file://' + $html)).AbsoluteUri)
        $text = $dom -replace '<[^>]+>', ' ' -replace '&amp;', '&' -replace '\s+', ' '
        foreach ($table in 'public.customers', 'public.orders', 'public.order_lines') { $text | Should -Match ([regex]::Escape($table)) }
        $text | Should -Match 'customers Copy 2,500'
        $text | Should -Match 'orders Copy 20,000'
        $text | Should -Match 'order_lines Copy 60,000'
        $text | Should -Match 'Match 60,000 60,000 equal'
        $text | Should -Match '3 of 3 match'
        $text | Should -Match 'full_name name'
        $text | Should -Match 'Time per table'
    }

    It 'is self-contained: no script, no resource from anywhere, a policy that forbids them, and no secret' {
        $page = Get-Content -Raw $html
        $page | Should -Not -Match '<script|<link|<img|<iframe|src=|href=|@import|url\('
        $page | Should -Match "Content-Security-Policy"
        $page | Should -Match "default-src 'none'"
        $page | Should -Not -Match ([regex]::Escape($pair.MigratorPassword))
        $page | Should -Not -Match 'Password='
    }
}

Describe 'A table named <script>' -Tag IntegrationTests {
    BeforeAll {
        $oddHtml = Join-Path $artifacts 'hostile.html'
        $oddMd = Join-Path $artifacts 'hostile.md'
        $null = $odd + $oddChecks | Export-ConfitureReport -Path $oddHtml
        $null = $odd + $oddChecks | Export-ConfitureReport -Path $oddMd
    }

    It 'is text in the HTML page: encoded, and nothing of it runs in Chromium' -Skip:(-not $IsLinux) {
        $page = Get-Content -Raw $oddHtml
        $page | Should -Not -Match '<script'
        $page | Should -Match ([regex]::Escape('&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;'))
        $dom = Invoke-Chromium @('--dump-dom', ([Uri]::new('file://' + $oddHtml)).AbsoluteUri)
        $dom | Should -Match '<title>Confiture migration report</title>'
        $dom | Should -Not -Match '<script'
    }

    It 'is text in the Markdown: neither HTML nor Markdown' {
        $md = Get-Content -Raw $oddMd
        $md | Should -Not -Match '<script'
        $md | Should -Match '&lt;script&gt;'
        $md | Should -Match '\| Match \| 3 \| 3 \| equal \|'
    }
}

Describe 'The Markdown and JSON forms' -Tag IntegrationTests {
    BeforeAll {
        $md = Join-Path $artifacts 'report.md'
        $json = Join-Path $artifacts 'report.json'
        $null = $results + $checks | Export-ConfitureReport -Path $md
        $null = $results + $checks | Export-ConfitureReport -Path $json
    }

    It 'writes Markdown with the overview, the chart and each map' {
        $text = Get-Content -Raw $md
        $text | Should -Match '\| public\.customers \| Copy \| 2,500 \| [\d.,]+ s \| [\d,]+ \| Match \| 2,500 \| 2,500 \| equal \|'
        $text | Should -Match '## Time per table'
        $text | Should -Match '\| full\\_name \| name \|'
        $text | Should -Not -Match ([regex]::Escape($pair.MigratorPassword))
    }

    It 'writes JSON with the same figures' {
        $report = Get-Content -Raw $json | ConvertFrom-Json
        $report.Summary.Tables | Should -Be 3
        $report.Summary.Rows | Should -Be 82500
        $report.Summary.Matched | Should -Be 3
        $customers = $report.Tables | Where-Object SourceTable -EQ 'customers'
        $customers.Strategy | Should -Be 'Copy'
        $customers.Rows | Should -Be 2500
        $customers.Verification.Match | Should -BeTrue
        $customers.Verification.ChecksumMatch | Should -BeTrue
        $customers.Verification.SourceCount | Should -Be 2500
        ($customers.Columns | Where-Object Source -EQ 'full_name').Target | Should -Be 'name'
        (Get-Content -Raw $json) | Should -Not -Match ([regex]::Escape($pair.MigratorPassword))
    }

    It 'refuses an unknown extension, an existing file with -NoClobber, and names an object it leaves out' {
        { $checks | Export-ConfitureReport -Path (Join-Path $artifacts 'report.txt') } | Should -Throw -ErrorId 'Confiture.InvalidArgument,*'
        { $checks | Export-ConfitureReport -Path $json -NoClobber } | Should -Throw -ErrorId 'Confiture.InvalidArgument,*'
        $null = $checks[0], 'stray' | Export-ConfitureReport -Path (Join-Path $artifacts 'one.json') -ErrorVariable failures -ErrorAction SilentlyContinue
        $failures[0].FullyQualifiedErrorId | Should -BeLike 'Confiture.InvalidArgument,*'
        $failures[0].Exception.Message | Should -Match 'String'
    }
}
