# A small Shiny app to look at a server: patients, studies and series as
# searchable tables, a slice viewer, the tags of an instance, downloads. Every
# request goes through browse_call(): a promise of what a public method of the
# client answers, so that the app's outputs are asynchronous.

#' Browse an Orthanc server in a Shiny app
#'
#' `orthanc_browse()` makes a small [Shiny][shiny::shinyApp] app to look at
#' what a server holds:
#'
#' * patients, studies and series as tables, each with a search box that
#'   keeps the rows containing its text (in any column); a click on a row
#'   selects it and lists its children;
#' * a slice viewer for the selected series: a slider through its instances
#'   (and the frames of multi-frame instances), ordered by their position
#'   along the slices' normal when every instance has one, else by
#'   `InstanceNumber`; each slice is Orthanc's preview of the frame
#'   (`GET /instances/{id}/frames/{n}/preview`, a PNG scaled to 8 bits);
#' * the tags of the instance on screen (`GET /instances/{id}/tags`, as
#'   [as.data.frame.Instance()] gives them), with a search box;
#' * download buttons: the instance's DICOM file, and the series as a ZIP
#'   archive, both streamed to disk by the client.
#'
#' Every request of the app is made by a public method of `client`, in the
#' background, as an [OrthancAsync] client makes it (also when `client` is a
#' synchronous [Orthanc] client: its requests, not the client, are made
#' asynchronously), and handled as a promise (packages promises and later):
#' outputs are filled as their answers arrive, and the app stays responsive
#' (other sessions, the slider) while a large series loads. At most
#' `getOption("orthanc.async_max", 8)` requests are in flight.
#'
#' Only the first `limit` patients of `GET /patients` are listed; the
#' search boxes filter the rows that were loaded.
#'
#' @param client An [Orthanc] client, or an `OrthancAsync` client.
#' @param limit The most patients to list (default 1000).
#' @param launch.browser,host,port Where and how the app runs when it is
#'   printed or given to [shiny::runApp()]: open a browser (default: in
#'   interactive sessions), the address to listen on (default
#'   `"127.0.0.1"`) and the port (default: a free one chosen by shiny).
#' @return A Shiny app object ([shiny::shinyApp()]). Printing it, as the
#'   console does when `orthanc_browse(o)` is typed there, runs the app;
#'   `shiny::runApp(orthanc_browse(o))` does the same from a script.
#'   Needs the packages shiny, promises and later (an
#'   `orthanc_missing_package_error` names those that are missing).
#' @export
#' @examplesIf interactive() && nzchar(Sys.getenv("ORTHANC_URL"))
#' o <- Orthanc$new()
#' orthanc_browse(o)
#' # From a script, on a chosen port, without opening a browser:
#' app <- orthanc_browse(o, launch.browser = FALSE, port = 8765)
#' shiny::runApp(app)
orthanc_browse <- function(client, limit = 1000,
                           launch.browser = getOption("shiny.launch.browser", interactive()),
                           host = getOption("shiny.host", "127.0.0.1"),
                           port = getOption("shiny.port")) {
  call <- sys.call()
  check_browse_packages(call)
  check_browse_client(client, call)
  if (!is_number(limit) || limit < 1 || limit != round(limit)) {
    orthanc_abort("argument", "{.arg limit} must be a positive whole number.", call = call)
  }
  if (!is_flag(launch.browser) && !is.function(launch.browser)) {
    orthanc_abort("argument", "{.arg launch.browser} must be TRUE, FALSE or a function.", call = call)
  }
  if (!is_string(host)) {
    orthanc_abort("argument", "{.arg host} must be a single string.", call = call)
  }
  if (!is.null(port) && (!is_number(port) || port < 1 || port > 65535 || port != round(port))) {
    orthanc_abort("argument", "{.arg port} must be a port number or NULL.", call = call)
  }
  options <- list(launch.browser = launch.browser, host = host)
  if (!is.null(port)) options$port <- as.integer(port)
  shiny::shinyApp(
    ui = browse_ui(),
    server = browse_server(client, as.integer(limit)),
    options = options
  )
}

browse_packages <- c("shiny", "promises", "later")

check_browse_packages <- function(call, packages = browse_packages) {
  check_packages(packages, "{.fn orthanc_browse}", call)
}

check_browse_client <- function(client, call) {
  if (!inherits(client, c("Orthanc", "OrthancAsync"))) {
    orthanc_abort("argument", "{.arg client} must be an {.cls Orthanc} client, not {.obj_type_friendly {client}}.", call = call)
  }
}

# The seam through which the app makes every request: a promise of what
# `client[[method]](...)` answers, rejected with its condition. An
# OrthancAsync client's methods answer promises; a synchronous client's
# request is made the way OrthancAsync makes it (async_call(), R/async.R):
# in the background, R free meanwhile.
browse_call <- function(client, method, ...) {
  f <- client[[method]]
  if (!is.function(f)) {
    orthanc_abort("argument", "The client has no method {.field {method}}.", call = quote(browse_call()))
  }
  if (inherits(client, "OrthancAsync")) {
    return(f(...))
  }
  async_call(client, f, ...)
}

# -- the user interface ------------------------------------------------------

browse_css <- "
.browse-box { max-height: 260px; overflow-y: auto; border: 1px solid #ddd; margin-bottom: 10px; }
.browse-table { margin-bottom: 0; font-size: 90%; }
.browse-table tr.browse-row { cursor: pointer; }
.browse-table tr.selected td { background-color: #d9edf7; font-weight: bold; }
.browse-viewer { background: #000; text-align: center; min-height: 200px; }
.browse-viewer img { height: 480px; max-width: 100%; object-fit: contain; }
.browse-tags { max-height: 420px; overflow-y: auto; font-size: 85%; }
.browse-caption { color: #555; margin: 4px 0 8px 0; }
"

# A click on a row of a table sets the table's input to the row's identifier
# (an event: clicking the selected row again still counts).
browse_js <- "
$(document).on('click', 'tr.browse-row', function() {
  Shiny.setInputValue($(this).attr('data-input'), $(this).attr('data-id'), {priority: 'event'});
});
"

browse_ui <- function() {
  tags <- shiny::tags
  search <- function(id, what) {
    shiny::textInput(id, label = NULL, placeholder = paste("Search", what), width = "100%")
  }
  table_column <- function(title, search_id, what, output_id) {
    shiny::column(
      4,
      tags$h4(title),
      search(search_id, what),
      tags$div(class = "browse-box", shiny::uiOutput(output_id))
    )
  }
  shiny::fluidPage(
    title = "Orthanc",
    tags$head(tags$style(shiny::HTML(browse_css)), tags$script(shiny::HTML(browse_js))),
    tags$h3(
      shiny::textOutput("server", inline = TRUE),
      shiny::actionButton("refresh", "Refresh", icon = shiny::icon("rotate"), class = "btn-sm")
    ),
    shiny::fluidRow(
      table_column("Patients", "patient_search", "patients", "patients"),
      table_column("Studies", "study_search", "studies", "studies"),
      table_column("Series", "series_search", "series", "series")
    ),
    shiny::fluidRow(
      shiny::column(
        7,
        tags$h4("Slices"),
        shiny::uiOutput("slider"),
        tags$div(class = "browse-caption", shiny::textOutput("caption")),
        tags$div(class = "browse-viewer", shiny::uiOutput("image"))
      ),
      shiny::column(
        5,
        tags$h4("Tags"),
        shiny::downloadButton("download_instance", "Instance (.dcm)"),
        shiny::downloadButton("download_series", "Series (.zip)"),
        tags$div(style = "height: 8px"),
        search("tag_search", "tags"),
        tags$div(class = "browse-tags", shiny::tableOutput("tags"))
      )
    )
  )
}

# -- the server logic ---------------------------------------------------------

browse_server <- function(client, limit) {
  force(client)
  force(limit)
  function(input, output, session) {
    `%...>%` <- promises::`%...>%`
    selected <- shiny::reactiveValues(patient = NULL, study = NULL, series = NULL)
    slices <- shiny::reactiveVal(NULL)
    current <- shiny::reactiveVal(NULL)

    output$server <- shiny::renderText({
      browse_call(client, "get_system") %...>%
        (function(s) {
          paste0("Orthanc ", s$Name %||% "", " (", s$Version %||% "", ")", if (is_string(client$url)) paste0(" at ", client$url) else "")
        })
    })

    # The tables: one request each, answered as promises of data frames.
    patients <- shiny::reactive({
      input$refresh
      browse_call(client, "get_patients", params = list(expand = TRUE, since = 0L, limit = limit)) %...>%
        browse_patients()
    })
    studies <- shiny::reactive({
      shiny::req(selected$patient)
      browse_call(client, "get_patients_id_studies", selected$patient) %...>% browse_studies()
    })
    series <- shiny::reactive({
      shiny::req(selected$study)
      browse_call(client, "get_studies_id_series", selected$study) %...>% browse_series()
    })

    shiny::observeEvent(input$patient_click, {
      selected$patient <- input$patient_click
      selected$study <- NULL
      selected$series <- NULL
    })
    shiny::observeEvent(input$study_click, {
      selected$study <- input$study_click
      selected$series <- NULL
    })
    shiny::observeEvent(input$series_click, {
      selected$series <- input$series_click
    })

    render_table <- function(rows, search_id, input_id, level) {
      shiny::renderUI({
        q <- input[[search_id]]
        sel <- selected[[level]]
        rows() %...>% (function(df) browse_table(browse_filter(df, q), input_id, sel))
      })
    }
    output$patients <- render_table(patients, "patient_search", "patient_click", "patient")
    output$studies <- render_table(studies, "study_search", "study_click", "study")
    output$series <- render_table(series, "series_search", "series_click", "series")

    # The slices of the selected series, then the one under the slider. An
    # answer for a series that is no longer selected is dropped.
    shiny::observeEvent(selected$series, ignoreNULL = FALSE, {
      slices(NULL)
      current(NULL)
      id <- selected$series
      if (is.null(id)) {
        return()
      }
      p <- browse_call(client, "get_series_id_instances", id) %...>%
        (function(items) {
          if (identical(shiny::isolate(selected$series), id)) slices(browse_slices(items))
        })
      promises::catch(p, function(e) browse_notify(session, e))
      NULL
    })
    slice_index <- shiny::debounce(shiny::reactive(input$slice), 120)
    shiny::observe({
      sl <- slices()
      if (is.null(sl) || !nrow(sl)) {
        return()
      }
      k <- slice_index() %||% 1L
      k <- min(max(1L, as.integer(k)), nrow(sl))
      row <- as.list(sl[k, , drop = FALSE])
      row$index <- k
      row$count <- nrow(sl)
      if (!identical(shiny::isolate(current()), row)) current(row)
    })

    output$slider <- shiny::renderUI({
      sl <- slices()
      if (is.null(sl)) {
        return(shiny::tags$p(class = "text-muted", if (is.null(selected$series)) "Select a series." else "Loading..."))
      }
      n <- nrow(sl)
      shiny::sliderInput("slice",
        label = NULL, min = 1L, max = max(n, 1L), value = 1L, step = 1L, width = "100%",
        ticks = FALSE, animate = shiny::animationOptions(interval = 400)
      )
    })
    output$caption <- shiny::renderText({
      cur <- current()
      shiny::req(cur)
      paste0(
        "Slice ", cur$index, " of ", cur$count, ": instance ", cur$id,
        if (!is.na(cur$instance_number)) paste0(", InstanceNumber ", cur$instance_number) else "",
        if (cur$frames > 1) paste0(", frame ", cur$frame, " of ", cur$frames) else ""
      )
    })
    output$image <- shiny::renderUI({
      cur <- current()
      shiny::req(cur)
      browse_call(client, "get_instances_id_frames_frame_preview", cur$id, cur$frame - 1L) %...>%
        (function(png) {
          shiny::tags$img(
            id = "slice-image", src = browse_data_uri(png),
            alt = paste("Slice", cur$index), `data-instance` = cur$id
          )
        })
    })
    output$tags <- shiny::renderTable(
      {
        cur <- current()
        shiny::req(cur)
        q <- input$tag_search
        browse_call(client, "get_instances_id_tags", cur$id) %...>%
          (function(t) browse_filter(browse_tags(t), q))
      },
      striped = TRUE, spacing = "xs", width = "100%", na = ""
    )

    output$download_instance <- shiny::downloadHandler(
      filename = function() {
        cur <- current()
        paste0(if (is.null(cur)) "instance" else browse_file_stem(cur$uid, cur$id), ".dcm")
      },
      content = function(file) {
        cur <- current()
        if (is.null(cur)) stop("No instance is selected.")
        browse_download(client, paste0("/instances/", cur$id, "/file"), file)
      },
      contentType = "application/dicom"
    )
    output$download_series <- shiny::downloadHandler(
      filename = function() paste0(selected$series %||% "series", ".zip"),
      content = function(file) {
        id <- selected$series
        if (is.null(id)) stop("No series is selected.")
        browse_download(client, paste0("/series/", id, "/archive"), file)
      },
      contentType = "application/zip"
    )
  }
}

# -- helpers (no requests) ---------------------------------------------------

# A download: the client streams the answer to a temporary file, which
# becomes the file that shiny sends.
browse_download <- function(client, route, file) {
  promises::then(browse_call(client, "stream", "GET", route), function(path) {
    if (!file.rename(path, file)) {
      ok <- file.copy(path, file, overwrite = TRUE)
      unlink(path)
      if (!ok) stop("Cannot write the downloaded file.")
    }
    invisible(file)
  })
}

browse_notify <- function(session, e) {
  shiny::showNotification(conditionMessage(e), type = "error", duration = 10, session = session)
}

browse_data_uri <- function(png) {
  if (!is.raw(png)) stop("The preview is not an image.")
  paste0("data:image/png;base64,", jsonlite::base64_enc(png))
}

browse_file_stem <- function(uid, id) {
  if (is.character(uid) && length(uid) == 1L && !is.na(uid) && grepl("^[0-9.]+$", uid)) uid else id
}

# One value of a main DICOM tag as text ("" when absent).
browse_text <- function(x) {
  if (is.null(x) || !length(x)) "" else paste(as.character(unlist(x)), collapse = "\\")
}

browse_numbers <- function(x) {
  s <- browse_text(x)
  if (!nzchar(s)) return(numeric())
  suppressWarnings(as.numeric(strsplit(s, "\\", fixed = TRUE)[[1]]))
}

# A data frame of an expanded listing: the identifier, some main DICOM tags
# (`tags`: column names for the tags they name) and the number of children.
browse_listing <- function(items, tags, children) {
  df <- data.frame(id = vapply(items, function(x) browse_text(x$ID), ""), stringsAsFactors = FALSE)
  for (k in seq_along(tags)) {
    df[[names(tags)[k]]] <- vapply(items, function(x) browse_text(x$MainDicomTags[[tags[[k]]]]), "")
  }
  df[[children]] <- vapply(items, function(x) length(x[[children]]), 1L)
  df
}

browse_patients <- function(items) {
  df <- browse_listing(items, c(Name = "PatientName", ID = "PatientID", Birth = "PatientBirthDate", Sex = "PatientSex"), "Studies")
  df[order(df$Name, df$ID), , drop = FALSE]
}

browse_studies <- function(items) {
  df <- browse_listing(items, c(Date = "StudyDate", Description = "StudyDescription", Accession = "AccessionNumber"), "Series")
  df[order(df$Date, df$Description), , drop = FALSE]
}

browse_series <- function(items) {
  df <- browse_listing(items, c(Number = "SeriesNumber", Modality = "Modality", Description = "SeriesDescription"), "Instances")
  number <- suppressWarnings(as.numeric(df$Number))
  df[order(number, df$Description), , drop = FALSE]
}

# The slices of a series from its expanded instance listing: one row per
# frame, ordered by the position of each instance along the normal of its
# slice when all have one (and they differ), else by InstanceNumber, then
# by Orthanc's index in the series.
browse_slices <- function(items) {
  empty <- data.frame(
    id = character(), frame = integer(), frames = integer(),
    instance_number = numeric(), uid = character(), stringsAsFactors = FALSE
  )
  if (!length(items)) return(empty)
  tag <- function(x, t) x$MainDicomTags[[t]]
  first_number <- function(x) {
    v <- browse_numbers(x)
    if (length(v)) v[[1]] else NA_real_
  }
  ids <- vapply(items, function(x) browse_text(x$ID), "")
  number <- vapply(items, function(x) first_number(tag(x, "InstanceNumber")), 0)
  index <- vapply(items, function(x) first_number(x$IndexInSeries), 0)
  frames <- vapply(items, function(x) {
    n <- first_number(tag(x, "NumberOfFrames"))
    if (is.na(n) || n < 1) 1L else as.integer(n)
  }, 1L)
  uid <- vapply(items, function(x) browse_text(tag(x, "SOPInstanceUID")), "")
  depth <- vapply(items, function(x) {
    pos <- browse_numbers(tag(x, "ImagePositionPatient"))
    ori <- browse_numbers(tag(x, "ImageOrientationPatient"))
    if (length(pos) != 3L || length(ori) != 6L || anyNA(c(pos, ori))) return(NA_real_)
    normal <- c(
      ori[2] * ori[6] - ori[3] * ori[5],
      ori[3] * ori[4] - ori[1] * ori[6],
      ori[1] * ori[5] - ori[2] * ori[4]
    )
    sum(pos * normal)
  }, 0)
  ord <- if (!anyNA(depth) && !anyDuplicated(depth)) {
    order(depth, ids)
  } else {
    order(number, index, ids, na.last = TRUE)
  }
  rows <- lapply(ord, function(i) {
    data.frame(
      id = ids[[i]], frame = seq_len(frames[[i]]), frames = frames[[i]],
      instance_number = number[[i]], uid = uid[[i]], stringsAsFactors = FALSE
    )
  })
  out <- do.call(rbind, rows)
  rownames(out) <- NULL
  out
}

# The tags of an instance (GET /instances/{id}/tags) as a table to show.
browse_tags <- function(tags) {
  rows <- flatten_tags(tags, prefix = "")
  column <- function(f) vapply(rows, function(r) r[[f]], "", USE.NAMES = FALSE)
  value <- column("value")
  long <- !is.na(value) & nchar(value) > 200L
  value[long] <- paste0(substr(value[long], 1L, 200L), "...")
  data.frame(
    Tag = column("path"), Keyword = column("keyword"), Value = value,
    stringsAsFactors = FALSE
  )
}

# The rows of `df` where some column contains `q` (ignoring case); the
# column `id` counts too.
browse_filter <- function(df, q) {
  if (is.null(q) || !nzchar(trimws(q)) || !nrow(df)) return(df)
  q <- tolower(trimws(q))
  hit <- Reduce(`|`, lapply(df, function(col) grepl(q, tolower(as.character(col)), fixed = TRUE)))
  df[hit, , drop = FALSE]
}

# An HTML table whose rows, clicked, set `input_id` to their `id`.
browse_table <- function(df, input_id, selected = NULL) {
  tags <- shiny::tags
  if (!nrow(df)) {
    return(tags$p(class = "text-muted", style = "padding: 6px", "None."))
  }
  columns <- setdiff(names(df), "id")
  header <- tags$tr(lapply(columns, function(col) tags$th(col)))
  rows <- lapply(seq_len(nrow(df)), function(i) {
    id <- df$id[[i]]
    tags$tr(
      class = if (identical(id, selected)) "browse-row selected" else "browse-row",
      `data-id` = id, `data-input` = input_id,
      lapply(columns, function(col) tags$td(as.character(df[[col]][[i]])))
    )
  })
  tags$table(
    class = "table table-condensed table-hover browse-table", id = paste0(input_id, "_table"),
    tags$thead(header), tags$tbody(rows)
  )
}
